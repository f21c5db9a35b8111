import asyncio
import uuid

from shared.contracts.funding import CONTRIBUTION_PLEDGED
from tests.helpers import ServiceUnderTest

PLEDGE = {
    "donor_name": "Ville de Genève",
    "donor_kind": "city",
    "amount": "25000.50",
    "currency": "chf",
}


async def create_fund(
    funding: ServiceUnderTest, name: str = "International City Solidarity Fund"
) -> dict:
    response = await funding.client.post("/funds", json={"name": name, "currency": "EUR"})
    assert response.status_code == 201, response.text
    return response.json()


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_a_pledge_is_stored_exactly_and_records_contribution_pledged(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    response = await funding.client.post(f"/funds/{fund['id']}/pledges", json=PLEDGE, headers=key())
    assert response.status_code == 201, response.text
    pledge = response.json()
    assert (pledge["amount"], pledge["currency"]) == ("25000.50", "CHF")
    listed = (await funding.client.get(f"/funds/{fund['id']}/pledges")).json()
    assert listed == [pledge]

    created, pledged = await funding.events()
    assert created.type == "FundCreated"
    payload = pledged.payload(CONTRIBUTION_PLEDGED)
    assert (str(payload.amount), payload.currency, pledged.subject) == (
        "25000.50",
        "CHF",
        fund["id"],
    )


async def test_a_pledge_without_an_idempotency_key_is_refused(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    response = await funding.client.post(f"/funds/{fund['id']}/pledges", json=PLEDGE)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert [e.type for e in await funding.events()] == ["FundCreated"]


async def test_retries_and_concurrent_duplicates_pledge_once(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    headers = key()
    url = f"/funds/{fund['id']}/pledges"
    responses = await asyncio.gather(
        *(funding.client.post(url, json=PLEDGE, headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await funding.client.get(url)).json()) == 1
    assert [e.type for e in await funding.events()].count("ContributionPledged") == 1

    changed = await funding.client.post(url, json={**PLEDGE, "amount": "1.00"}, headers=headers)
    assert changed.status_code == 409


async def test_bad_money_gets_a_clear_4xx_and_no_pledge(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    url = f"/funds/{fund['id']}/pledges"
    cases = [
        ({"amount": "0"}, "positive"),
        ({"amount": "-10"}, "positive"),
        ({"amount": "10.001", "currency": "EUR"}, "2 decimal places"),
        ({"amount": "10.5", "currency": "XOF"}, "0 decimal places"),
        ({"currency": "EURO"}, "ISO 4217"),
        ({"amount": "ten"}, "valid decimal"),
        ({"donor_kind": "alien"}, "city"),
        ({"fund_id": str(uuid.uuid4())}, "Extra inputs"),
    ]
    for change, message in cases:
        response = await funding.client.post(url, json={**PLEDGE, **change}, headers=key())
        assert response.status_code == 422, (change, response.text)
        assert message in response.text, (change, response.text)
    unknown = await funding.client.post(
        f"/funds/{uuid.uuid4()}/pledges", json=PLEDGE, headers=key()
    )
    assert unknown.status_code == 404
    assert (await funding.client.get(url)).json() == []


async def test_fund_names_are_unique_and_currencies_iso(funding: ServiceUnderTest) -> None:
    await create_fund(funding)
    again = await funding.client.post(
        "/funds", json={"name": "International City Solidarity Fund", "currency": "EUR"}
    )
    assert again.status_code == 409
    bad = await funding.client.post("/funds", json={"name": "Fund", "currency": "ABC"})
    assert bad.status_code == 422 and "ISO 4217" in bad.text
