import asyncio
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from services.funding.models import Pledge
from services.funding.public_log import FundLogEntry, Link, chain_problems, digest_of
from shared.contracts.funding import CONTRIBUTION_PLEDGED
from tests.helpers import ServiceUnderTest, bearer

PLEDGE = {
    "donor_name": "Ville de Genève",
    "donor_kind": "city",
    "amount": "25000.50",
    "currency": "chf",
}


def platform_admin() -> dict[str, str]:
    return bearer("platform_admin")


def fund_admin(fund_id: str, subject: str | None = None) -> dict[str, str]:
    return bearer(f"fund_admin:{fund_id}", subject=subject)


def donor(donor_id: str) -> dict[str, str]:
    """A donor system's token; its client id is stable, as a real client's is."""
    return bearer(f"donor:{donor_id}", subject=f"client-of-{donor_id}", kind="client")


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def create_fund(
    funding: ServiceUnderTest, name: str = "International City Solidarity Fund"
) -> dict:
    response = await funding.client.post(
        "/funds", json={"name": name, "currency": "EUR"}, headers=platform_admin()
    )
    assert response.status_code == 201, response.text
    return response.json()


async def pledge_as(
    funding: ServiceUnderTest, fund_id: str, auth: dict[str, str], **change: str
) -> dict:
    response = await funding.client.post(
        f"/funds/{fund_id}/pledges", json={**PLEDGE, **change}, headers={**auth, **key()}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def pledges_seen_by(funding: ServiceUnderTest, fund_id: str, auth: dict[str, str]) -> list:
    response = await funding.client.get(f"/funds/{fund_id}/pledges", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_pledge_is_stored_exactly_and_records_contribution_pledged(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    donor_id = str(uuid.uuid4())
    response = await funding.client.post(
        f"/funds/{fund['id']}/pledges", json=PLEDGE, headers={**donor(donor_id), **key()}
    )
    assert response.status_code == 201, response.text
    pledge = response.json()
    assert (pledge["amount"], pledge["currency"], pledge["donor_id"]) == (
        "25000.50",
        "CHF",
        donor_id,
    )
    assert await pledges_seen_by(funding, fund["id"], donor(donor_id)) == [pledge]

    created, pledged = await funding.events()
    assert created.type == "FundCreated"
    payload = pledged.payload(CONTRIBUTION_PLEDGED)
    assert (str(payload.amount), payload.currency, str(payload.donor_id), pledged.subject) == (
        "25000.50",
        "CHF",
        donor_id,
        fund["id"],
    )


async def test_a_fund_admin_records_an_offline_donors_pledge_in_its_own_fund(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    admin = str(uuid.uuid4())
    pledge = await pledge_as(funding, fund["id"], fund_admin(fund["id"], subject=admin))
    assert pledge["donor_id"] is None
    assert await pledges_seen_by(funding, fund["id"], fund_admin(fund["id"])) == [pledge]

    pledged = (await funding.events())[-1].payload(CONTRIBUTION_PLEDGED)
    assert pledged.donor_id is None
    async with funding.runtime.sessions() as session:
        stored = (await session.exec(select(Pledge))).one()
    assert stored.recorded_by == admin


async def test_a_pledge_without_an_idempotency_key_is_refused(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    response = await funding.client.post(
        f"/funds/{fund['id']}/pledges", json=PLEDGE, headers=donor(str(uuid.uuid4()))
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert [e.type for e in await funding.events()] == ["FundCreated"]


async def test_retries_and_concurrent_duplicates_pledge_once(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    headers = {**donor(str(uuid.uuid4())), **key()}
    url = f"/funds/{fund['id']}/pledges"
    responses = await asyncio.gather(
        *(funding.client.post(url, json=PLEDGE, headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await pledges_seen_by(funding, fund["id"], platform_admin())) == 1
    assert [e.type for e in await funding.events()].count("ContributionPledged") == 1

    changed = await funding.client.post(url, json={**PLEDGE, "amount": "1.00"}, headers=headers)
    assert changed.status_code == 409


async def test_idempotency_keys_belong_to_their_caller(funding: ServiceUnderTest) -> None:
    """Another caller's key is never replayed to you: the same key from another donor is that
    donor's own new operation (keys are kept per caller, as payment APIs do)."""
    fund = await create_fund(funding)
    url = f"/funds/{fund['id']}/pledges"
    idempotency = key()
    donor_a, donor_b = str(uuid.uuid4()), str(uuid.uuid4())
    first = await funding.client.post(url, json=PLEDGE, headers={**donor(donor_a), **idempotency})
    assert first.status_code == 201, first.text
    other = await funding.client.post(url, json=PLEDGE, headers={**donor(donor_b), **idempotency})
    assert other.status_code == 201, other.text
    assert "Idempotent-Replayed" not in other.headers
    assert (other.json()["donor_id"], other.json()["id"] != first.json()["id"]) == (donor_b, True)
    retry = await funding.client.post(url, json=PLEDGE, headers={**donor(donor_a), **idempotency})
    assert retry.json() == first.json()


async def test_bad_money_gets_a_clear_4xx_and_no_pledge(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    url = f"/funds/{fund['id']}/pledges"
    auth = donor(str(uuid.uuid4()))
    cases = [
        ({"amount": "0"}, "positive"),
        ({"amount": "-10"}, "positive"),
        ({"amount": "10.001", "currency": "EUR"}, "2 decimal places"),
        ({"amount": "10.5", "currency": "XOF"}, "0 decimal places"),
        ({"currency": "EURO"}, "ISO 4217"),
        ({"amount": "ten"}, "valid decimal"),
        ({"donor_kind": "alien"}, "city"),
        ({"fund_id": str(uuid.uuid4())}, "Extra inputs"),
        ({"status": "paid"}, "Extra inputs"),
    ]
    for change, message in cases:
        response = await funding.client.post(
            url, json={**PLEDGE, **change}, headers={**auth, **key()}
        )
        assert response.status_code == 422, (change, response.text)
        assert message in response.text, (change, response.text)
    unknown = await funding.client.post(
        f"/funds/{uuid.uuid4()}/pledges", json=PLEDGE, headers={**auth, **key()}
    )
    assert unknown.status_code == 404
    assert await pledges_seen_by(funding, fund["id"], platform_admin()) == []


async def test_fund_names_are_unique_and_currencies_iso(funding: ServiceUnderTest) -> None:
    await create_fund(funding)
    again = await funding.client.post(
        "/funds",
        json={"name": "International City Solidarity Fund", "currency": "EUR"},
        headers=platform_admin(),
    )
    assert again.status_code == 409
    bad = await funding.client.post(
        "/funds", json={"name": "Fund", "currency": "ABC"}, headers=platform_admin()
    )
    assert bad.status_code == 422 and "ISO 4217" in bad.text


async def test_only_platform_admins_create_funds(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    body = {"name": "Another Fund", "currency": "EUR"}
    for auth in (fund_admin(fund["id"]), donor(str(uuid.uuid4())), bearer()):
        response = await funding.client.post("/funds", json=body, headers=auth)
        assert response.status_code == 403, response.text
        assert "platform_admin" in response.json()["detail"]
    assert [e.type for e in await funding.events()] == ["FundCreated"]


async def test_donors_see_their_own_pledges_and_cannot_pledge_as_another(
    funding: ServiceUnderTest,
) -> None:
    fund_1, fund_2 = await create_fund(funding, "Fund One"), await create_fund(funding, "Fund Two")
    donor_a, donor_b = str(uuid.uuid4()), str(uuid.uuid4())
    of_a = await pledge_as(funding, fund_1["id"], donor(donor_a), donor_name="Donor A")
    of_b = await pledge_as(funding, fund_1["id"], donor(donor_b), donor_name="Donor B")
    assert (of_a["donor_id"], of_b["donor_id"]) == (donor_a, donor_b)

    assert await pledges_seen_by(funding, fund_1["id"], donor(donor_a)) == [of_a]
    assert await pledges_seen_by(funding, fund_1["id"], donor(donor_b)) == [of_b]
    assert await pledges_seen_by(funding, fund_2["id"], donor(donor_a)) == []

    # B names A as the donor: the body cannot carry a donor id at all.
    forged = await funding.client.post(
        f"/funds/{fund_1['id']}/pledges",
        json={**PLEDGE, "donor_id": donor_a},
        headers={**donor(donor_b), **key()},
    )
    assert forged.status_code == 422, forged.text
    assert "donor_id" in forged.text and "Extra inputs" in forged.text
    assert await pledges_seen_by(funding, fund_1["id"], donor(donor_a)) == [of_a]


async def test_a_token_for_several_donors_cannot_pledge(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    auth = bearer(f"donor:{uuid.uuid4()}", f"donor:{uuid.uuid4()}", kind="client")
    response = await funding.client.post(
        f"/funds/{fund['id']}/pledges", json=PLEDGE, headers={**auth, **key()}
    )
    assert response.status_code == 403, response.text
    assert "2 donors" in response.json()["detail"]
    assert [e.type for e in await funding.events()] == ["FundCreated"]


async def test_fund_admins_act_on_their_own_fund_only(funding: ServiceUnderTest) -> None:
    fund_1, fund_2 = await create_fund(funding, "Fund One"), await create_fund(funding, "Fund Two")
    of_donor = await pledge_as(funding, fund_1["id"], donor(str(uuid.uuid4())))
    offline = await pledge_as(funding, fund_1["id"], fund_admin(fund_1["id"]))

    assert await pledges_seen_by(funding, fund_1["id"], fund_admin(fund_1["id"])) == [
        of_donor,
        offline,
    ]
    assert await pledges_seen_by(funding, fund_1["id"], platform_admin()) == [of_donor, offline]

    admin_2 = fund_admin(fund_2["id"])
    listed = await funding.client.get(f"/funds/{fund_1['id']}/pledges", headers=admin_2)
    assert listed.status_code == 403, listed.text
    recorded = await funding.client.post(
        f"/funds/{fund_1['id']}/pledges", json=PLEDGE, headers={**admin_2, **key()}
    )
    assert recorded.status_code == 403, recorded.text
    assert str(fund_1["id"]) in recorded.json()["detail"]
    assert len(await pledges_seen_by(funding, fund_1["id"], platform_admin())) == 2


async def test_other_roles_neither_pledge_nor_list(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    url = f"/funds/{fund['id']}/pledges"
    officer = bearer(f"city_officer:{uuid.uuid4()}")
    assert (await funding.client.get(url, headers=officer)).status_code == 403
    assert (
        await funding.client.post(url, json=PLEDGE, headers={**officer, **key()})
    ).status_code == 403
    # A platform administrator oversees pledges but does not record them.
    pledged = await funding.client.post(url, json=PLEDGE, headers={**platform_admin(), **key()})
    assert pledged.status_code == 403


async def test_funds_are_public_and_everything_else_needs_a_token(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    public = await funding.client.get(f"/funds/{fund['id']}")
    assert public.status_code == 200 and public.json() == fund
    assert (await funding.client.get(f"/funds/{uuid.uuid4()}")).status_code == 404

    url = f"/funds/{fund['id']}/pledges"
    refused = [
        await funding.client.post("/funds", json={"name": "Fund Two", "currency": "EUR"}),
        await funding.client.post(url, json=PLEDGE, headers=key()),
        await funding.client.get(url),
        await funding.client.get(url, headers={"Authorization": "Bearer not-a-token"}),
    ]
    for response in refused:
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert [e.type for e in await funding.events()] == ["FundCreated"]


async def test_ledger_entries_cannot_be_updated_or_deleted(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    await pledge_as(funding, fund["id"], fund_admin(fund["id"]))
    async with funding.runtime.sessions() as session:
        for statement in (
            "UPDATE ledger_entries SET amount_minor = 1",
            "DELETE FROM ledger_entries",
            "UPDATE ledger_movements SET memo = 'changed'",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with session.begin_nested():
                    await session.exec(text(statement))  # type: ignore[call-overload]


async def test_every_fund_event_is_chained_in_the_public_log(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    for _ in range(3):
        await pledge_as(funding, fund["id"], fund_admin(fund["id"]))
    async with funding.runtime.sessions() as session:
        entries = (
            await session.exec(select(FundLogEntry).order_by(col(FundLogEntry.position)))
        ).all()
    events = await funding.events()
    assert [e.event_id for e in entries] == [e.id for e in events]
    assert [e.digest for e in entries] == [digest_of(e.document) for e in entries]
    links = [Link(**e.model_dump(exclude={"seq", "fund_id", "document"})) for e in entries]
    assert chain_problems(links, expected_head=entries[1].hash) == []

    altered = [*links[:1], replace(links[1], digest=digest_of("{}")), *links[2:]]
    assert chain_problems(altered) == ["entry 2: hash does not match its contents"]
    assert "history was rewritten" in chain_problems(links[:1], expected_head=entries[2].hash)[0]
