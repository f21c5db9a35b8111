import asyncio
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from services.funding.ledger.store import LedgerMovement
from services.funding.models import Pledge
from services.funding.overdue import flag_overdue, funds_to_check
from services.funding.public_log import FundLogEntry, Link, chain_problems, digest_of
from shared.contracts.funding import (
    CONTRIBUTION_PLEDGED,
    CONTRIBUTION_RECEIVED,
    FUND_CREATED,
    FUND_UPDATED,
    INSTALMENT_OVERDUE,
    PLEDGE_CANCELLED,
)
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
    funding: ServiceUnderTest, name: str = "International City Solidarity Fund", **fields: object
) -> dict:
    response = await funding.client.post(
        "/funds", json={"name": name, "currency": "EUR", **fields}, headers=platform_admin()
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
    assert await ledger_movements(funding) == []


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


# --- funds in full, receipts, instalments, in-kind, balances --------------------------------------


async def ledger_movements(funding: ServiceUnderTest) -> list[LedgerMovement]:
    async with funding.runtime.sessions() as session:
        return list((await session.exec(select(LedgerMovement))).all())


async def receive(
    funding: ServiceUnderTest, fund_id: str, pledge_id: str, headers: dict | None = None, **body
) -> httpx.Response:
    return await funding.client.post(
        f"/funds/{fund_id}/pledges/{pledge_id}/receipts",
        json=body,
        headers=headers or {**fund_admin(fund_id), **key()},
    )


async def balances(funding: ServiceUnderTest, fund_id: str, auth: dict | None = None) -> dict:
    response = await funding.client.get(f"/funds/{fund_id}/balances", headers=auth or {})
    assert response.status_code == 200, response.text
    return {b["currency"]: b for b in response.json()["balances"]}


FULL_FUND = {
    "purpose": "Financial aid and transfer of technical skills between cities",
    "eligible_domains": ["waste-collection", "drinking-water"],
    "admin_fee_rate": "0.01",
    "committee": [
        {"name": "Ville de Genève", "role": "co-founder"},
        {"name": "District de Bamako", "role": "co-founder"},
    ],
    "administrators": ["treasurer-subject"],
}


async def test_a_fund_has_its_purpose_domains_committee_and_fee(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding, **FULL_FUND)
    assert fund["eligible_domains"] == ["drinking-water", "waste-collection"]
    assert (fund["admin_fee_rate"], fund["visibility"], fund["status"]) == (
        "0.01",
        "public",
        "open",
    )
    assert fund["committee"][1] == {"name": "District de Bamako", "role": "co-founder"}
    assert (await funding.client.get(f"/funds/{fund['id']}")).json() == fund

    created = (await funding.events())[0].payload(FUND_CREATED)
    assert (created.purpose, created.admin_fee_rate, created.eligible_domains) == (
        FULL_FUND["purpose"],
        Decimal("0.01"),
        ["drinking-water", "waste-collection"],
    )
    assert [m.name for m in created.committee] == ["Ville de Genève", "District de Bamako"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eligible_domains": ["space-travel"]}, "unknown domain codes: space-travel"),
        ({"admin_fee_rate": "0.3"}, "between 0 and 0.25"),
        ({"admin_fee_rate": "-0.01"}, "between 0 and 0.25"),
        ({"visibility": "secret"}, "'public' or 'restricted'"),
        ({"committee": [{"name": "X"}]}, "role"),
        ({"status": "closed"}, "Extra inputs"),
    ],
)
async def test_a_fund_with_bad_fields_is_refused(
    funding: ServiceUnderTest, change: dict, message: str
) -> None:
    response = await funding.client.post(
        "/funds", json={"name": "Fund", "currency": "EUR", **change}, headers=platform_admin()
    )
    assert response.status_code == 422, response.text
    assert message in response.text
    assert await funding.events() == []


async def test_a_restricted_fund_is_seen_by_its_admins_donors_and_platform_admins(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding, visibility="restricted")
    its_donor, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    await pledge_as(funding, fund["id"], donor(its_donor))
    seen_by = {
        "anonymous": {},
        "account without roles": bearer(),
        "another fund's admin": fund_admin(str(uuid.uuid4())),
        "another donor": donor(stranger),
        "its admin": fund_admin(fund["id"]),
        "its donor": donor(its_donor),
        "platform admin": platform_admin(),
    }
    for path in (f"/funds/{fund['id']}", f"/funds/{fund['id']}/balances"):
        answers = {
            who: (await funding.client.get(path, headers=auth)).status_code
            for who, auth in seen_by.items()
        }
        assert answers == {
            "anonymous": 404,
            "account without roles": 404,
            "another fund's admin": 404,
            "another donor": 404,
            "its admin": 200,
            "its donor": 200,
            "platform admin": 200,
        }, path
    bad_token = await funding.client.get(
        f"/funds/{fund['id']}", headers={"Authorization": "Bearer not-a-token"}
    )
    assert bad_token.status_code == 401

    public = await create_fund(funding, "A Public Fund")
    listed = {
        who: [f["name"] for f in (await funding.client.get("/funds", headers=auth)).json()]
        for who, auth in seen_by.items()
    }
    assert listed["anonymous"] == listed["another donor"] == [public["name"]]
    assert listed["its donor"] == listed["its admin"] == [public["name"], fund["name"]]
    closed = await funding.client.get("/funds?status=closed", headers=platform_admin())
    assert closed.json() == []


async def test_fund_admins_describe_their_fund_and_platform_admins_set_its_fee(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    url = f"/funds/{fund['id']}"
    admin = fund_admin(fund["id"])
    changed = await funding.client.patch(
        url,
        json={"purpose": "Water for Bamako", "eligible_domains": ["drinking-water"]},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["purpose"], changed.json()["eligible_domains"]) == (
        "Water for Bamako",
        ["drinking-water"],
    )
    refused = await funding.client.patch(url, json={"admin_fee_rate": "0.02"}, headers=admin)
    assert refused.status_code == 403 and "admin_fee_rate" in refused.json()["detail"]
    other = await funding.client.patch(
        url, json={"purpose": "x"}, headers=fund_admin(str(uuid.uuid4()))
    )
    assert other.status_code == 403
    fee = await funding.client.patch(url, json={"admin_fee_rate": "0.02"}, headers=platform_admin())
    assert fee.json()["admin_fee_rate"] == "0.02"
    # The same values again change nothing and tell no one.
    again = await funding.client.patch(url, json={"purpose": "Water for Bamako"}, headers=admin)
    assert again.status_code == 200
    nulled = await funding.client.patch(url, json={"purpose": None}, headers=admin)
    assert nulled.status_code == 422 and "cannot be null" in nulled.text

    updates = [e.payload(FUND_UPDATED) for e in await funding.events("FundUpdated")]
    assert [u.changed for u in updates] == [["eligible_domains", "purpose"], ["admin_fee_rate"]]
    assert updates[-1].admin_fee_rate == Decimal("0.02")


async def test_a_closed_fund_takes_no_pledge_but_still_receives_what_was_pledged(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    pledge = await pledge_as(funding, fund["id"], fund_admin(fund["id"]), currency="EUR")
    url = f"/funds/{fund['id']}/closure"
    closed = await funding.client.post(
        url, json={"reason": "programme ended"}, headers=fund_admin(fund["id"])
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["closure_reason"]) == (
        "closed",
        "programme ended",
    )
    again = await funding.client.post(url, json={"reason": "again"}, headers=platform_admin())
    assert again.json()["closure_reason"] == "programme ended"
    assert len(await funding.events("FundClosed")) == 1

    movements = await ledger_movements(funding)
    for path, body in (
        ("pledges", PLEDGE),
        ("in-kind-pledges", {**IN_KIND, "staff_days": "1"}),
    ):
        refused = await funding.client.post(
            f"/funds/{fund['id']}/{path}", json=body, headers={**donor(str(uuid.uuid4())), **key()}
        )
        assert refused.status_code == 409, refused.text
        assert "closed fund takes no new pledge" in refused.json()["detail"]
    assert await ledger_movements(funding) == movements
    patched = await funding.client.patch(
        f"/funds/{fund['id']}", json={"purpose": "late"}, headers=fund_admin(fund["id"])
    )
    assert patched.status_code == 409

    received = await receive(funding, fund["id"], pledge["id"], amount="100.00")
    assert received.status_code == 201, received.text


async def test_a_pledge_carries_its_instalments_and_earmark(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding, eligible_domains=["drinking-water"])
    pledge = await pledge_as(
        funding,
        fund["id"],
        donor(str(uuid.uuid4())),
        amount="25000.00",
        instalments=[
            {"due_on": "2027-07-31", "amount": "15000.00"},
            {"due_on": "2027-01-31", "amount": "10000.00"},
        ],
        earmark={"domain": "drinking-water"},
    )
    assert [(i["number"], i["due_on"], i["amount"]) for i in pledge["instalments"]] == [
        (1, "2027-01-31", "10000.00"),
        (2, "2027-07-31", "15000.00"),
    ]
    assert pledge["earmark"] == {
        "domain": "drinking-water",
        "country_code": None,
        "region": None,
        "agreement_id": None,
    }
    assert (pledge["status"], pledge["outstanding"], pledge["received"]) == (
        "open",
        "25000.00",
        "0.00",
    )
    pledged = (await funding.events("ContributionPledged"))[0].payload(CONTRIBUTION_PLEDGED)
    assert [(str(i.due_on), str(i.amount)) for i in pledged.instalments] == [
        ("2027-01-31", "10000.00"),
        ("2027-07-31", "15000.00"),
    ]
    assert pledged.earmark is not None and pledged.earmark.domain == "drinking-water"

    region = await pledge_as(
        funding,
        fund["id"],
        fund_admin(fund["id"]),
        earmark={"country_code": "ml", "region": "Kayes"},
    )
    assert (region["earmark"]["country_code"], region["earmark"]["region"]) == ("ML", "Kayes")


async def test_bad_instalments_and_earmarks_get_a_4xx_and_no_ledger_entry(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding, eligible_domains=["drinking-water"])
    url = f"/funds/{fund['id']}/pledges"
    auth = donor(str(uuid.uuid4()))
    two = [{"due_on": "2027-01-31", "amount": "10.00"}, {"due_on": "2027-02-28", "amount": "5.00"}]
    cases = [
        ({"amount": "20.00", "currency": "EUR", "instalments": two}, "add up to 15.00 EUR, not"),
        (
            {"amount": "20.00", "currency": "EUR", "instalments": [{**two[0]}, {**two[0]}]},
            "two instalments fall due on 2027-01-31",
        ),
        (
            {"amount": "15", "currency": "XOF", "instalments": [{**two[0], "amount": "10.5"}]},
            "0 decimal places",
        ),
        (
            {"instalments": [{"due_on": "2027-01-31", "amount": "-1"}, *two]},
            "must be positive",
        ),
        ({"earmark": {}}, "names none"),
        ({"earmark": {"domain": "transport", "country_code": "BF"}}, "exactly one of"),
        ({"earmark": {"region": "Kayes"}}, "needs its country_code"),
        ({"earmark": {"country_code": "XY"}}, "ISO 3166-1"),
        ({"earmark": {"domain": "no-such-domain"}}, "unknown domain code"),
        ({"earmark": {"domain": "transport"}}, "funds only drinking-water"),
    ]
    for change, message in cases:
        response = await funding.client.post(
            url, json={**PLEDGE, **change}, headers={**auth, **key()}
        )
        assert response.status_code == 422, (change, response.text)
        assert message in response.text, (change, response.text)
    assert await ledger_movements(funding) == []
    assert await funding.events("ContributionPledged") == []


async def test_a_receipt_in_the_funds_currency_pays_instalments_oldest_first_net_of_the_fee(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding, admin_fee_rate="0.01")
    pledge = await pledge_as(
        funding,
        fund["id"],
        fund_admin(fund["id"]),
        amount="1000.00",
        currency="EUR",
        instalments=[
            {"due_on": "2027-01-31", "amount": "300.00"},
            {"due_on": "2027-02-28", "amount": "700.00"},
        ],
    )
    first = await receive(funding, fund["id"], pledge["id"], amount="450.50")
    assert first.status_code == 201, first.text
    receipt = first.json()
    assert (receipt["amount"], receipt["converted_amount"], receipt["fee"]) == (
        "450.50",
        "450.50",
        "4.50",  # 1% of 450.50 = 4.505, half to even: 4.50
    )
    assert (receipt["net_amount"], receipt["exchange_rate"], receipt["fee_rate"]) == (
        "446.00",
        None,
        "0.01",
    )
    assert receipt["instalments_paid"] == [
        {"number": 1, "amount": "300.00"},
        {"number": 2, "amount": "150.50"},
    ]
    second = (await receive(funding, fund["id"], pledge["id"], amount="549.50")).json()
    assert second["instalments_paid"] == [{"number": 2, "amount": "549.50"}]

    seen = (await pledges_seen_by(funding, fund["id"], fund_admin(fund["id"])))[0]
    assert (seen["status"], seen["received"], seen["outstanding"], seen["fees"]) == (
        "fulfilled",
        "1000.00",
        "0.00",
        "10.00",  # 4.50 + 5.50 (1% of 549.50 = 5.495: half to even gives 5.50)
    )
    assert [i["outstanding"] for i in seen["instalments"]] == ["0.00", "0.00"]
    eur = (await balances(funding, fund["id"]))["EUR"]
    assert (eur["pledged"], eur["outstanding"], eur["received"]) == ("1000.00", "0.00", "1000.00")
    assert (eur["admin_fees"], eur["available"]) == ("10.00", "990.00")

    events = await funding.events("ContributionReceived")
    payload = events[0].payload(CONTRIBUTION_RECEIVED)
    assert (payload.amount, payload.fee, payload.net_amount, payload.outstanding) == (
        Decimal("450.50"),
        Decimal("4.50"),
        Decimal("446.00"),
        Decimal("549.50"),
    )
    receipts = [m for m in await ledger_movements(funding) if m.kind == "receipt"]
    assert {str(m.receipt_id) for m in receipts} == {receipt["id"], second["id"]}


async def test_a_receipt_in_another_currency_is_converted_at_the_rate_given_and_both_shown(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding, admin_fee_rate="0.01")
    its_donor = str(uuid.uuid4())
    pledge = await pledge_as(funding, fund["id"], donor(its_donor), amount="25000.00")  # CHF
    movements = await ledger_movements(funding)
    missing = await receive(funding, fund["id"], pledge["id"], amount="10000.00")
    assert missing.status_code == 422
    assert "give the exchange_rate (EUR for 1 CHF)" in missing.json()["detail"]
    assert await ledger_movements(funding) == movements

    response = await receive(
        funding,
        fund["id"],
        pledge["id"],
        amount="10000.00",
        exchange_rate="1.0653",
        rate_source="ECB reference rate 2026-11-20",
        received_on="2026-11-20",
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert {k: receipt[k] for k in ("amount", "currency", "exchange_rate", "converted_amount")} == {
        "amount": "10000.00",
        "currency": "CHF",
        "exchange_rate": "1.0653",
        "converted_amount": "10653.00",
    }
    assert (receipt["fund_currency"], receipt["fee"], receipt["net_amount"]) == (
        "EUR",
        "106.53",
        "10546.47",
    )
    assert receipt["rate_source"] == "ECB reference rate 2026-11-20"
    movement = next(m for m in await ledger_movements(funding) if m.kind == "receipt")
    assert (movement.exchange_rate, movement.memo) == (
        Decimal("1.0653"),
        "ECB reference rate 2026-11-20",
    )

    # The rate is kept digit for digit, even beyond what a float holds.
    precise = await receive(
        funding, fund["id"], pledge["id"], amount="1.00", exchange_rate="18611.930157647946"
    )
    assert precise.status_code == 201, precise.text
    assert precise.json()["converted_amount"] == "18611.93"
    listed = await funding.client.get(
        f"/funds/{fund['id']}/receipts?pledge_id={pledge['id']}", headers=donor(its_donor)
    )
    assert [r["exchange_rate"] for r in listed.json()] == ["1.0653", "18611.930157647946"]
    receipt = listed.json()[0]

    # The donor sees its receipt with both amounts, and its pledge received in both currencies.
    listed = await funding.client.get(f"/funds/{fund['id']}/receipts", headers=donor(its_donor))
    assert listed.json() == [receipt, precise.json()]
    other = await funding.client.get(
        f"/funds/{fund['id']}/receipts", headers=donor(str(uuid.uuid4()))
    )
    assert other.json() == []
    seen = await funding.client.get(
        f"/funds/{fund['id']}/pledges/{pledge['id']}", headers=donor(its_donor)
    )
    assert (seen.json()["received"], seen.json()["received_in_fund_currency"]) == (
        "10001.00",
        "29264.93",
    )
    hidden = await funding.client.get(
        f"/funds/{fund['id']}/pledges/{pledge['id']}", headers=donor(str(uuid.uuid4()))
    )
    assert hidden.status_code == 404

    found = await balances(funding, fund["id"])
    assert (found["CHF"]["pledged"], found["CHF"]["outstanding"]) == ("25000.00", "14999.00")
    assert (found["EUR"]["received"], found["EUR"]["available"]) == ("29264.93", "28972.28")
    event = (await funding.events("ContributionReceived"))[0].payload(CONTRIBUTION_RECEIVED)
    assert (event.amount, event.currency, event.converted_amount, event.fund_currency) == (
        Decimal("10000.00"),
        "CHF",
        Decimal("10653.00"),
        "EUR",
    )


async def test_bad_receipts_get_a_4xx_naming_the_rule_and_no_ledger_entry(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    pledge = await pledge_as(funding, fund["id"], fund_admin(fund["id"]), currency="EUR")
    xof_fund = await create_fund(funding, "Fonds XOF", currency="XOF")
    xof = await pledge_as(
        funding, xof_fund["id"], fund_admin(xof_fund["id"]), amount="1000", currency="XOF"
    )
    first = await receive(funding, fund["id"], pledge["id"], amount="25000.00")
    assert first.status_code == 201, first.text
    movements = await ledger_movements(funding)
    events = await funding.events()
    cases = [
        (fund, pledge, {"amount": "0.51"}, 409, "0.50 EUR is outstanding"),
        (fund, pledge, {"amount": "0"}, 422, "must be positive"),
        (fund, pledge, {"amount": "-5.00"}, 422, "must be positive"),
        (fund, pledge, {"amount": "0.001"}, 422, "EUR has 2 decimal places"),
        (fund, pledge, {"amount": "0.50", "exchange_rate": "1.1"}, 422, "leave exchange_rate out"),
        (fund, pledge, {"amount": "0.50", "received_on": "2999-01-01"}, 422, "in the future"),
        (fund, pledge, {"amount": "0.50", "currency": "USD"}, 422, "Extra inputs"),
        (xof_fund, xof, {"amount": "10.5"}, 422, "XOF has 0 decimal places"),
        (fund, {"id": str(uuid.uuid4())}, {"amount": "1.00"}, 404, "no pledge"),
        (fund, xof, {"amount": "1"}, 404, "no pledge"),
    ]
    for target, of, body, status, message in cases:
        response = await receive(funding, target["id"], of["id"], **body)
        assert response.status_code == status, (body, response.text)
        assert message in response.text, (body, response.text)
    assert await ledger_movements(funding) == movements
    assert await funding.events() == events


async def test_receipts_are_recorded_by_the_funds_admins_only(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    its_donor = str(uuid.uuid4())
    pledge = await pledge_as(funding, fund["id"], donor(its_donor), currency="EUR")
    for auth in (donor(its_donor), fund_admin(str(uuid.uuid4())), platform_admin()):
        response = await receive(funding, fund["id"], pledge["id"], {**auth, **key()}, amount="1")
        assert response.status_code == 403, response.text
    assert [m.kind for m in await ledger_movements(funding)] == ["pledge"]


async def test_a_retried_receipt_is_recorded_once_and_a_reused_key_is_refused(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    pledge = await pledge_as(funding, fund["id"], fund_admin(fund["id"]), currency="EUR")
    headers = {**fund_admin(fund["id"]), **key()}
    url = f"/funds/{fund['id']}/pledges/{pledge['id']}/receipts"
    responses = await asyncio.gather(
        *(funding.client.post(url, json={"amount": "100.00"}, headers=headers) for _ in range(4))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    later = await funding.client.post(url, json={"amount": "100.00"}, headers=headers)
    assert (later.json(), later.headers["Idempotent-Replayed"]) == (responses[0].json(), "true")

    reused = await funding.client.post(url, json={"amount": "200.00"}, headers=headers)
    assert reused.status_code == 409 and "already used for a different request" in reused.text
    without = await funding.client.post(
        url, json={"amount": "100.00"}, headers=fund_admin(fund["id"])
    )
    assert without.status_code == 400 and "Idempotency-Key" in without.text

    assert [m.kind for m in await ledger_movements(funding)] == ["pledge", "receipt"]
    assert len(await funding.events("ContributionReceived")) == 1
    assert (await balances(funding, fund["id"]))["EUR"]["received"] == "100.00"


async def test_concurrent_receipts_never_take_more_than_is_outstanding(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    pledge = await pledge_as(
        funding, fund["id"], fund_admin(fund["id"]), amount="1000.00", currency="EUR"
    )
    responses = await asyncio.gather(
        *(receive(funding, fund["id"], pledge["id"], amount="300.00") for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 3
    assert (await balances(funding, fund["id"]))["EUR"]["outstanding"] == "100.00"


async def test_overdue_instalments_are_flagged_once_each(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    its_donor = str(uuid.uuid4())
    pledge = await pledge_as(
        funding,
        fund["id"],
        donor(its_donor),
        amount="900.00",
        currency="EUR",
        instalments=[
            {"due_on": "2025-01-31", "amount": "300.00"},
            {"due_on": "2025-06-30", "amount": "300.00"},
            {"due_on": "2999-12-31", "amount": "300.00"},
        ],
    )
    paid = await pledge_as(
        funding,
        fund["id"],
        donor(its_donor),
        amount="100.00",
        currency="EUR",
        instalments=[{"due_on": "2025-01-31", "amount": "100.00"}],
    )
    await receive(funding, fund["id"], pledge["id"], amount="400.00")
    await receive(funding, fund["id"], paid["id"], amount="100.00")
    url = f"/funds/{fund['id']}/overdue-runs"
    refused = await funding.client.post(url, headers=fund_admin(str(uuid.uuid4())))
    assert refused.status_code == 403

    run = await funding.client.post(url, headers=fund_admin(fund["id"]))
    assert run.status_code == 200, run.text
    assert [(f["pledge_id"], f["number"], f["unpaid"]) for f in run.json()["flagged"]] == [
        (pledge["id"], 2, "200.00")
    ]
    again = await funding.client.post(url, headers=fund_admin(fund["id"]))
    assert again.json()["flagged"] == []
    async with funding.runtime.sessions() as session:  # what the service's own loop runs
        # The fund is still looked at (the pledge's first instalment is past due, paid in
        # full, so never flagged), and nothing is flagged twice.
        assert await funds_to_check(session, date.today()) == [uuid.UUID(fund["id"])]
        assert await flag_overdue(session, date.today(), uuid.UUID(fund["id"])) == []

    overdue = [e.payload(INSTALMENT_OVERDUE) for e in await funding.events("InstalmentOverdue")]
    assert [(o.number, o.unpaid, o.donor_id) for o in overdue] == [
        (2, Decimal("200.00"), uuid.UUID(its_donor))
    ]
    seen = await funding.client.get(
        f"/funds/{fund['id']}/pledges/{pledge['id']}", headers=donor(its_donor)
    )
    assert [i["overdue"] for i in seen.json()["instalments"]] == [False, True, False]


async def test_a_cancelled_pledge_writes_off_what_was_outstanding(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    pledge = await pledge_as(
        funding,
        fund["id"],
        fund_admin(fund["id"]),
        amount="1000.00",
        currency="EUR",
        instalments=[
            {"due_on": "2025-01-31", "amount": "400.00"},
            {"due_on": "2025-02-28", "amount": "600.00"},
        ],
    )
    await receive(funding, fund["id"], pledge["id"], amount="250.00")
    url = f"/funds/{fund['id']}/pledges/{pledge['id']}/cancellation"
    body = {"reason": "the donor's budget was cut"}
    headers = {**fund_admin(fund["id"]), **key()}
    cancelled = await funding.client.post(url, json=body, headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert {k: cancelled.json()[k] for k in ("status", "received", "outstanding", "cancelled")} == {
        "status": "cancelled",
        "received": "250.00",
        "outstanding": "0.00",
        "cancelled": "750.00",
    }
    retried = await funding.client.post(url, json=body, headers=headers)
    assert retried.json() == cancelled.json()

    movements = await ledger_movements(funding)
    again = await funding.client.post(url, json=body, headers={**fund_admin(fund["id"]), **key()})
    assert again.status_code == 409 and "already cancelled" in again.text
    late = await receive(funding, fund["id"], pledge["id"], amount="1.00")
    assert late.status_code == 409 and "0.00 EUR is outstanding" in late.text
    assert await ledger_movements(funding) == movements
    run = await funding.client.post(
        f"/funds/{fund['id']}/overdue-runs", headers=fund_admin(fund["id"])
    )
    assert run.json()["flagged"] == []  # nothing is overdue on a written-off pledge

    eur = (await balances(funding, fund["id"]))["EUR"]
    assert (eur["pledged"], eur["outstanding"], eur["received"]) == ("250.00", "0.00", "250.00")
    written_off = (await funding.events("PledgeCancelled"))[0].payload(PLEDGE_CANCELLED)
    assert (written_off.written_off, written_off.reason) == (Decimal("750.00"), body["reason"])


IN_KIND = {
    "donor_name": "Ville de Lyon",
    "donor_kind": "city",
    "profession": "water-engineer",
    "staff_days": "20",
}


async def test_in_kind_expertise_is_valued_delivered_and_kept_out_of_cash(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    url = f"/funds/{fund['id']}/in-kind-pledges"
    admin = fund_admin(fund["id"])
    by_table = await funding.client.post(url, json=IN_KIND, headers={**admin, **key()})
    assert by_table.status_code == 201, by_table.text
    pledged = by_table.json()
    assert (pledged["daily_rate"], pledged["value"], pledged["currency"]) == (
        "400.00",
        "8000.00",
        "EUR",
    )
    assert "rate table as of 2026-01-01" in pledged["rate_source"]
    given = await funding.client.post(
        url,
        json={
            **IN_KIND,
            "profession": "port-logistics-expert",
            "staff_days": "2.5",
            "daily_rate": "333.33",
            "rate_source": "Port of Marseille's internal rate card, 2026",
            "earmark": {"agreement_id": str(uuid.uuid4())},
        },
        headers={**donor(str(uuid.uuid4())), **key()},
    )
    assert given.status_code == 201, given.text
    assert (given.json()["value"], given.json()["rate_source"]) == (
        "833.32",  # 2.5 x 333.33 = 833.325, half to even: 833.32
        "Port of Marseille's internal rate card, 2026",
    )

    deliveries = f"{url}/{pledged['id']}/deliveries"
    agreement = str(uuid.uuid4())
    delivery = {"agreement_id": agreement, "staff_days": "5", "delivered_on": "2026-03-15"}
    delivered = await funding.client.post(deliveries, json=delivery, headers={**admin, **key()})
    assert delivered.status_code == 201, delivered.text
    assert (delivered.json()["value"], delivered.json()["agreement_id"]) == ("2000.00", agreement)
    movements = await ledger_movements(funding)
    too_much = await funding.client.post(
        deliveries, json={**delivery, "staff_days": "15.5"}, headers={**admin, **key()}
    )
    assert too_much.status_code == 409 and "more than the 15 still to deliver" in too_much.text
    elsewhere = await funding.client.post(
        f"{url}/{given.json()['id']}/deliveries",  # earmarked for another agreement
        json={**delivery, "staff_days": "1"},
        headers={**admin, **key()},
    )
    assert elsewhere.status_code == 422, elsewhere.text
    assert "delivered to that agreement only" in elsewhere.text
    by_donor = await funding.client.post(
        deliveries, json=delivery, headers={**donor(str(uuid.uuid4())), **key()}
    )
    assert by_donor.status_code == 403
    assert await ledger_movements(funding) == movements

    eur = (await balances(funding, fund["id"]))["EUR"]
    assert eur["technical_assistance"] == {
        "pledged": "8833.32",
        "delivered": "2000.00",
        "to_deliver": "6833.32",
    }
    assert (eur["pledged"], eur["received"], eur["available"]) == ("0.00", "0.00", "0.00")
    listed = await funding.client.get(url, headers=admin)
    assert [(p["staff_days_delivered"], p["value_delivered"]) for p in listed.json()] == [
        ("5", "2000.00"),
        ("0", "0.00"),
    ]
    assert listed.json()[0]["deliveries"] == [delivered.json()]
    assert [e.type for e in await funding.events("InKindPledged", "InKindDelivered")] == [
        "InKindPledged",
        "InKindPledged",
        "InKindDelivered",
    ]


async def test_bad_in_kind_pledges_get_a_4xx_and_no_ledger_entry(funding: ServiceUnderTest) -> None:
    fund = await create_fund(funding)
    url = f"/funds/{fund['id']}/in-kind-pledges"
    auth = fund_admin(fund["id"])
    cases = [
        ({"profession": "astronaut"}, "no EUR rate for 'astronaut'"),
        ({"staff_days": "0"}, "greater than 0"),
        ({"staff_days": "1.001"}, "decimal places"),
        ({"daily_rate": "100.001"}, "EUR has 2 decimal places"),
        ({"daily_rate": "-100"}, "must be positive"),
        ({"rate_source": "my own"}, "give both, or neither"),
        ({"profession": "Water Engineer!"}, "pattern"),
    ]
    for change, message in cases:
        response = await funding.client.post(
            url, json={**IN_KIND, **change}, headers={**auth, **key()}
        )
        assert response.status_code == 422, (change, response.text)
        assert message in response.text, (change, response.text)
    assert await ledger_movements(funding) == []
    rates = await funding.client.get("/in-kind-rates")
    assert rates.status_code == 200
    assert all(rate["source"] for rate in rates.json())
