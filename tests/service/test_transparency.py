"""Transparency over HTTP and a real database, with data made only through the donors' and
grants' APIs (and the registry's and matching's events through the inbox): which receipts paid
for each tranche, a donor's money trail, the public view, the IATI file validated against the
official IATI 2.03 schema, the 360Giving CSV, and the public log covering it all."""

import csv
import io
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree
from sqlmodel import col, select

from services.funding.ledger.store import LedgerMovement
from services.funding.public_log import verify
from services.funding.transparency.allocation import RULE, Allocation, allocation_problems
from services.funding.transparency.exports import GIVING_COLUMNS
from shared.contracts.matching import AGREEMENT_ACTIVATED, AGREEMENT_PROPOSED
from shared.contracts.registry.cities import CITY_REGISTERED
from shared.events import encode
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest
from tests.service.test_funding import create_fund, donor, fund_admin, pledge_as
from tests.service.test_grants import (
    LOME,
    LYON,
    agreement_event,
    at,
    conflict_event,
    known_agreement,
    officer,
    post,
    proposal,
    reported,
)

SCHEMA = Path(__file__).parents[2] / "services/funding/transparency/schemas"
BAMAKO = uuid.UUID("5a1c0de0-0000-4000-8000-00000000ba3a")
FUND_NAME = "Geneva–Lyon–Bamako Solidarity Fund"
IATI = etree.XMLSchema(etree.parse(str(SCHEMA / "iati-activities-schema.xsd")))


@dataclass
class Fund:
    """The Geneva-Lyon-Bamako fund after a year: four donors, two grants, a tranche of each
    paid. Lomé-Lyon (TG, FR); Bamako-Lyon (ML, FR) with Bamako in a conflict zone."""

    id: str
    admins: list[dict[str, str]]
    geneva: str
    monaco: str
    person: str
    lome_lyon: uuid.UUID
    bamako_lyon: uuid.UUID
    tranches: dict[str, str]


async def receipt(funding: ServiceUnderTest, fund_id: str, pledge: dict, **body: Any) -> dict:
    url = f"/funds/{fund_id}/pledges/{pledge['id']}/receipts"
    return await post(funding, url, fund_admin(fund_id), 201, amount=pledge["amount"], **body)


async def bamako_in_a_conflict_zone(funding: ServiceUnderTest) -> uuid.UUID:
    bamako = CITY_REGISTERED.example.model_copy(
        update={"city_id": BAMAKO, "name": "Bamako", "country_code": "ML", "region": "Bamako"}
    )
    agreement_id = uuid.uuid4()
    parties = {"party_city_ids": [BAMAKO, LYON]}
    outcomes = await funding.deliver(
        at(0, CITY_REGISTERED, BAMAKO, bamako),
        conflict_event(1, BAMAKO, "zone_of_peace", None),  # in a conflict zone, not fighting
        agreement_event(2, AGREEMENT_PROPOSED, agreement_id, domains=["drinking-water"], **parties),
        agreement_event(3, AGREEMENT_ACTIVATED, agreement_id, **parties),
    )
    assert Outcome.DEAD_LETTERED not in outcomes
    return agreement_id


async def awarded(
    funding: ServiceUnderTest,
    fund_id: str,
    admins: list[dict[str, str]],
    agreement_id: uuid.UUID,
    city: uuid.UUID,
    *tranches: str,
) -> list[dict]:
    response = await funding.client.post(
        f"/funds/{fund_id}/applications",
        json={
            "agreement_id": str(agreement_id),
            "applicant_city_id": str(city),
            "title": f"partnership {agreement_id}",
            **proposal(*tranches),
        },
        headers=officer(city),
    )
    assert response.status_code == 201, response.text
    url = f"/applications/{response.json()['id']}"
    for n, kind in ((0, "content"), (1, "budget")):
        await post(
            funding, f"{url}/reviews", admins[n], 201, kind=kind, decision="approve", comment="ok"
        )
    decided = await post(
        funding, f"{url}/decision", admins[2], 200, decision="approve", comment="committee"
    )
    return decided["tranches"]


async def pay(funding: ServiceUnderTest, admins: list[dict[str, str]], tranche_id: str) -> None:
    await reported(funding, tranche_id)
    await post(funding, f"/tranches/{tranche_id}/release", admins[3], 200)


async def solidarity_fund(funding: ServiceUnderTest) -> Fund:
    fund = await create_fund(funding, name=FUND_NAME, admin_fee_rate="0.01")
    fund_id = fund["id"]
    admins = [fund_admin(fund_id, subject=f"admin-{n}") for n in range(4)]
    lome_lyon = await known_agreement(funding)  # Lomé (TG, Maritime) and Lyon (FR)
    bamako_lyon = await bamako_in_a_conflict_zone(funding)
    geneva, monaco, person = (str(uuid.uuid4()) for _ in range(3))
    pledges = [
        await pledge_as(funding, fund_id, donor(geneva), amount="10000.00", currency="CHF"),
        await pledge_as(
            funding,
            fund_id,
            donor(monaco),
            donor_name="Gouvernement princier de Monaco",
            donor_kind="government",
            amount="5000.00",
            currency="EUR",
            earmark={"country_code": "TG"},
        ),
        await pledge_as(
            funding,
            fund_id,
            donor(person),
            donor_name="Jeanne Dupont",
            donor_kind="individual",
            amount="100.00",
            currency="EUR",
        ),
        await pledge_as(
            funding,
            fund_id,
            fund_admin(fund_id),
            donor_name="Sister Cities International",
            donor_kind="foundation",
            amount="3000.00",
            currency="EUR",
            earmark={"agreement_id": str(bamako_lyon)},
        ),
    ]
    await receipt(funding, fund_id, pledges[0], exchange_rate="1.05", rate_source="bank advice")
    for pledge in pledges[1:]:
        await receipt(funding, fund_id, pledge)
    # Net of the 1% fee: Geneva 10395.00 (10500.00 converted), Monaco 4950.00 (for Togo),
    # the person 99.00, Sister Cities 2970.00 (for Bamako-Lyon).
    lome = await awarded(funding, fund_id, admins, lome_lyon, LOME, "6000.00", "4000.00")
    bamako = await awarded(funding, fund_id, admins, bamako_lyon, BAMAKO, "3500.00")
    await pay(funding, admins, lome[0]["id"])
    await pay(funding, admins, bamako[0]["id"])
    # Geneva also lends a water engineer: 10 days at 400.00 EUR, 4 delivered in Lomé, 2 in Bamako.
    expertise = await post(
        funding,
        f"/funds/{fund_id}/in-kind-pledges",
        donor(geneva),
        201,
        donor_name="Ville de Genève",
        donor_kind="city",
        profession="water-engineer",
        staff_days="10",
        daily_rate="400.00",
        rate_source="Geneva's staff cost, 2027",
    )
    for agreement_id, days, day in ((lome_lyon, "4", "02"), (bamako_lyon, "2", "03")):
        await post(
            funding,
            f"/funds/{fund_id}/in-kind-pledges/{expertise['id']}/deliveries",
            fund_admin(fund_id),
            201,
            agreement_id=str(agreement_id),
            staff_days=days,
            delivered_on=f"2026-11-{day}",
        )
    tranches = {"lome 1": lome[0]["id"], "lome 2": lome[1]["id"], "bamako 1": bamako[0]["id"]}
    async with funding.runtime.sessions() as session:
        assert await allocation_problems(session) == []
    return Fund(fund_id, admins, geneva, monaco, person, lome_lyon, bamako_lyon, tranches)


async def test_each_tranche_is_paid_by_the_most_restricted_money_first_then_the_oldest(
    funding: ServiceUnderTest,
) -> None:
    fund = await solidarity_fund(funding)
    async with funding.runtime.sessions() as session:
        rows = (await session.exec(select(Allocation).order_by(col(Allocation.allocated_at)))).all()
    paid = [(str(r.tranche_id), r.donor_id, r.amount_minor, r.tier) for r in rows]
    geneva, monaco = uuid.UUID(fund.geneva), uuid.UUID(fund.monaco)
    assert paid == [
        # Lomé-Lyon: Monaco's money for Togo, then Geneva's unearmarked money.
        (fund.tranches["lome 1"], monaco, 495_000, "earmark"),
        (fund.tranches["lome 1"], geneva, 105_000, "unearmarked"),
        # Bamako-Lyon: Sister Cities' money for it (an offline donor), then Geneva's.
        (fund.tranches["bamako 1"], None, 297_000, "agreement"),
        (fund.tranches["bamako 1"], geneva, 53_000, "unearmarked"),
    ]


async def test_a_tranche_the_eligible_money_cannot_cover_is_refused_naming_the_rule(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding)
    admins = [fund_admin(fund["id"], subject=f"admin-{n}") for n in range(4)]
    lome_lyon = await known_agreement(funding)
    elsewhere = await bamako_in_a_conflict_zone(funding)
    pledge = await pledge_as(
        funding,
        fund["id"],
        admins[0],
        amount="9000.00",
        currency="EUR",
        earmark={"agreement_id": str(elsewhere)},
    )
    await receipt(funding, fund["id"], pledge)
    (tranche,) = await awarded(funding, fund["id"], admins, lome_lyon, LOME, "2000.00")
    await reported(funding, tranche["id"])
    refused = await post(funding, f"/tranches/{tranche['id']}/release", admins[3], 409)
    assert "have 0.00 EUR unallocated, less than the 2000.00 EUR asked" in refused["detail"]
    assert RULE in refused["detail"]
    async with funding.runtime.sessions() as session:
        kinds = (
            await session.exec(
                select(LedgerMovement.kind).where(
                    LedgerMovement.tranche_id == uuid.UUID(tranche["id"])
                )
            )
        ).all()
        assert kinds == []
        assert (await session.exec(select(Allocation))).all() == []
    balances = (await funding.client.get(f"/funds/{fund['id']}/balances", headers=admins[0])).json()
    assert "9000.00" in str(balances)


async def test_a_donor_follows_its_own_money_to_agreements_tranches_and_dates(
    funding: ServiceUnderTest,
) -> None:
    fund = await solidarity_fund(funding)
    url = f"/funds/{fund.id}/donors/{fund.geneva}/money-trail"
    response = await funding.client.get(url, headers=donor(fund.geneva))
    assert response.status_code == 200, response.text
    trail = response.json()
    assert (trail["net_received"], trail["spent"], trail["unspent"]) == (
        "10395.00",
        "1580.00",
        "8815.00",
    )
    (pledge,) = trail["pledges"]
    assert pledge["pledged"] == {"amount": "10000.00", "currency": "CHF"}
    (paid,) = pledge["receipts"]
    assert (paid["received"], Decimal(paid["exchange_rate"]), paid["converted"], paid["fee"]) == (
        {"amount": "10000.00", "currency": "CHF"},
        Decimal("1.05"),
        "10500.00",
        "105.00",
    )
    seen = [(p["agreement"], p["tranche"], p["amount"], p["status"]) for p in paid["paid_for"]]
    assert seen == [
        (AGREEMENT_PROPOSED.example.title, "milestone 1", "1050.00", "disbursed"),
        ("withheld", None, "530.00", "disbursed"),
    ]
    assert all(p["disbursed_at"] for p in paid["paid_for"])
    assert [p["countries"] for p in paid["paid_for"]] == [["FR", "TG"], ["FR", "ML"]]
    (lent,) = trail["expertise"]
    assert (lent["profession"], lent["value"], lent["staff_days_to_deliver"]) == (
        "water-engineer",
        "4000.00",
        "4.00",
    )
    assert [(d["agreement"], d["staff_days"], d["value"]) for d in lent["deliveries"]] == [
        (AGREEMENT_PROPOSED.example.title, "4.00", "1600.00"),
        ("withheld", "2.00", "800.00"),
    ]

    # The fund's administrators see any donor's trail, the partnership in a conflict zone named.
    as_admin = (await funding.client.get(url, headers=fund.admins[0])).json()
    assert as_admin["pledges"][0]["receipts"][0]["paid_for"][1]["tranche"] == "milestone 1"
    assert as_admin["pledges"][0]["receipts"][0]["paid_for"][1]["agreement"] != "withheld"
    assert as_admin["expertise"][0]["deliveries"][1]["agreement"] != "withheld"


async def test_a_donor_may_not_follow_another_donor_s_money(funding: ServiceUnderTest) -> None:
    fund = await solidarity_fund(funding)
    response = await funding.client.get(
        f"/funds/{fund.id}/donors/{fund.geneva}/money-trail", headers=donor(fund.monaco)
    )
    assert response.status_code == 403
    assert f"not donor {fund.geneva}'s" in response.text
    other_fund = await create_fund(funding, name="UNDP Trust Fund for City Partnerships")
    response = await funding.client.get(
        f"/funds/{fund.id}/donors/{fund.geneva}/money-trail", headers=fund_admin(other_fund["id"])
    )
    assert response.status_code == 403


async def test_the_public_view_gives_totals_and_flows_and_withholds_people_and_conflict_zones(
    funding: ServiceUnderTest,
) -> None:
    fund = await solidarity_fund(funding)
    response = await funding.client.get(f"/funds/{fund.id}/transparency")
    assert response.status_code == 200, response.text
    view = response.json()
    totals = view["totals"]
    assert {k: totals[k] for k in ("received", "admin_fees", "disbursed", "available")} == {
        "received": "18600.00",
        "admin_fees": "186.00",
        "disbursed": "9500.00",
        "available": "8914.00",
    }
    # Technical assistance, valued, apart from cash: pledged, and delivered so far.
    assert (totals["in_kind_pledged"], totals["in_kind_delivered"]) == ("4000.00", "2400.00")
    assert totals["pledged"] == [
        {"amount": "10000.00", "currency": "CHF"},
        {"amount": "8100.00", "currency": "EUR"},
    ]
    donors = {
        (d["donor"], d["donor_kind"], d["donors"], d["received"], d["disbursed"])
        for d in view["donors"]
    }
    assert donors == {
        ("Ville de Genève", "city", 1, "10500.00", "1580.00"),
        ("Gouvernement princier de Monaco", "government", 1, "5000.00", "4950.00"),
        ("individual donors", "individual", 1, "100.00", "0.00"),
        ("foundation donors", "foundation", 1, "3000.00", "2970.00"),
    }
    assert [(c["country_code"], c["agreements"], c["disbursed"]) for c in view["by_country"]] == [
        ("ML", 1, "3500.00"),
        ("TG", 1, "6000.00"),
    ]
    assert [(d["domain"], d["disbursed"]) for d in view["by_domain"]] == [
        ("drinking-water", "3500.00"),
        ("municipal-staff-training", "3000.00"),
        ("waste-collection", "3000.00"),
    ]
    assert {
        (f["donor_kind"], f["domain"], f["country_code"], f["amount"]) for f in view["flows"]
    } >= {
        ("government", "waste-collection", "TG", "2475.00"),
        ("foundation", "drinking-water", "ML", "2970.00"),
        ("city", "drinking-water", "ML", "530.00"),
    }
    month = view["over_time"][0]
    assert (month["received"], month["disbursed"]) == ("18600.00", "9500.00")
    grants = {g["agreement"]: g for g in view["grants"]}
    assert grants["withheld"]["cities"] == ["withheld", "withheld"]
    assert grants["withheld"]["countries"] == ["FR", "ML"]
    assert (grants["withheld"]["awarded"], grants["withheld"]["disbursed"]) == (
        "3500.00",
        "3500.00",
    )
    public = response.text.replace(FUND_NAME, "")
    for secret in ("Jeanne", "Dupont", "Sister Cities", "Bamako", str(fund.person)):
        assert secret not in public


async def test_a_restricted_fund_s_reports_are_for_its_administrators_and_donors_only(
    funding: ServiceUnderTest,
) -> None:
    fund = await create_fund(funding, visibility="restricted")
    geneva = str(uuid.uuid4())
    await pledge_as(funding, fund["id"], donor(geneva))
    for path in ("transparency", "iati.xml", "360giving.csv", "public-log", "public-log/head"):
        url = f"/funds/{fund['id']}/{path}"
        assert (await funding.client.get(url)).status_code == 404, path
        assert (await funding.client.get(url, headers=donor(str(uuid.uuid4())))).status_code == 404
        assert (await funding.client.get(url, headers=donor(geneva))).status_code == 200, path
        assert (await funding.client.get(url, headers=fund_admin(fund["id"]))).status_code == 200


async def test_the_iati_file_is_valid_iati_2_03_with_every_kind_of_transaction(
    funding: ServiceUnderTest,
) -> None:
    fund = await solidarity_fund(funding)
    response = await funding.client.get(f"/funds/{fund.id}/iati.xml")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    document = etree.fromstring(response.content)
    IATI.assertValid(document)
    activities = document.findall("iati-activity")
    assert [a.get("hierarchy") for a in activities] == ["1", "2", "2"]
    parent, *children = activities

    def transactions(activity: etree._Element) -> list[tuple[str, str]]:
        return [
            (t.find("transaction-type").get("code"), t.findtext("value"))
            for t in activity.findall("transaction")
        ]

    assert transactions(parent) == [
        ("11", "10000.00"),
        ("11", "5000.00"),
        ("11", "100.00"),
        ("11", "3000.00"),
        ("1", "10500.00"),
        ("1", "5000.00"),
        ("1", "100.00"),
        ("1", "3000.00"),
    ]
    assert parent.find("transaction/value").get("currency") == "CHF"
    assert sorted(transactions(c) for c in children) == sorted(
        [[("2", "10000.00"), ("3", "6000.00")], [("2", "3500.00"), ("3", "3500.00")]]
    )
    children_refs = {r.get("ref") for r in parent.findall("related-activity")}
    assert children_refs == {c.findtext("iati-identifier") for c in children}
    assert all(
        c.find("related-activity").get("ref") == parent.findtext("iati-identifier")
        for c in children
    )
    public = response.text.replace(FUND_NAME, "")
    for secret in ("Jeanne", "Dupont", "Sister Cities", "Bamako"):
        assert secret not in public
    assert "individual donors" in public and "Gouvernement princier de Monaco" in public


async def test_an_invalid_iati_file_would_be_caught_by_the_schema(
    funding: ServiceUnderTest,
) -> None:
    """The schema check is a real one: the same file without a required element fails it."""
    fund = await solidarity_fund(funding)
    document = etree.fromstring((await funding.client.get(f"/funds/{fund.id}/iati.xml")).content)
    document.find("iati-activity/reporting-org").getparent().remove(
        document.find("iati-activity/reporting-org")
    )
    assert not IATI.validate(document)
    assert "reporting-org" in str(IATI.error_log.last_error)


async def test_the_360giving_csv_has_one_row_per_award_with_the_standard_s_columns(
    funding: ServiceUnderTest,
) -> None:
    fund = await solidarity_fund(funding)
    response = await funding.client.get(f"/funds/{fund.id}/360giving.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == GIVING_COLUMNS
    rows = sorted(reader, key=lambda r: r["Beneficiary Location:Country Code"])
    assert [
        (r["Currency"], r["Amount Awarded"], r["Amount Disbursed"], r["Recipient Org:Name"])
        for r in rows
    ] == [("EUR", "3500.00", "3500.00", "withheld"), ("EUR", "10000.00", "6000.00", "Lomé")]
    assert all(r["Identifier"].startswith("360G-") for r in rows)
    assert {r["Funding Org:Name"] for r in rows} == {FUND_NAME}
    assert "Bamako" not in response.text.replace(FUND_NAME, "")


async def test_the_public_log_chains_every_event_of_the_fund_s_life(
    funding: ServiceUnderTest,
) -> None:
    fund = await solidarity_fund(funding)
    mine = [event for event in await funding.events() if event.subject == fund.id]
    verification = await verify(
        funding.client, uuid.UUID(fund.id), events=[json.loads(encode(e).value) for e in mine]
    )
    assert verification.problems == []
    assert verification.entries == len(mine)
    types = {e.type for e in mine}
    assert {"ContributionPledged", "ContributionReceived", "TrancheDisbursed"} <= types
