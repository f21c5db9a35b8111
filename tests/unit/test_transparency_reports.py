"""The transparency reports and exports as pure functions of a fund's facts: what is withheld
from whom, how money is split over domains, and IATI files valid in the cases the service tests
do not reach (a cancelled pledge, a closed fund, an agreement funding has not heard of)."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from services.funding.domain import DonorKind, FundStatus
from services.funding.grants.domain import ApplicationStatus, TrancheStatus
from services.funding.grants.models import Application, KnownAgreement, KnownCity, Tranche
from services.funding.models import Fund, Pledge, Receipt
from services.funding.transparency import exports, reports
from services.funding.transparency.allocation import Allocation, Tier
from services.funding.transparency.facts import WITHHELD, FundFacts

SCHEMA = Path(__file__).parents[2] / "services/funding/transparency/schemas"
IATI = etree.XMLSchema(etree.parse(str(SCHEMA / "iati-activities-schema.xsd")))
WHEN = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
FUND = uuid.UUID("f0d00000-0000-4000-8000-000000000001")
DONOR = uuid.UUID("d0000000-0000-4000-8000-000000000001")
PEACE, WAR = uuid.uuid4(), uuid.uuid4()  # agreements: between cities at peace; with Goma
LOME, LYON, GOMA = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def facts(*, cancelled: int = 0, status: FundStatus = FundStatus.OPEN) -> FundFacts:
    fund = Fund(id=FUND, name="Fund", currency="EUR", status=status, created_at=WHEN)
    pledges = [
        Pledge(
            id=uuid.uuid4(),
            fund_id=FUND,
            donor_id=DONOR,
            recorded_by="x",
            donor_name="Ville de Genève",
            donor_kind=DonorKind.CITY,
            amount_minor=1_000_00,
            currency="CHF",
            pledged_at=WHEN,
            cancelled_minor=cancelled,
            cancelled_at=WHEN if cancelled else None,
        ),
        Pledge(
            id=uuid.uuid4(),
            fund_id=FUND,
            recorded_by="x",
            donor_name="Jeanne Dupont",
            donor_kind=DonorKind.INDIVIDUAL,
            amount_minor=50_00,
            currency="EUR",
            pledged_at=WHEN,
        ),
    ]
    receipt = Receipt(
        id=uuid.uuid4(),
        fund_id=FUND,
        pledge_id=pledges[0].id,
        amount_minor=1_000_00 - cancelled,
        currency="CHF",
        fund_currency="EUR",
        exchange_rate=Decimal("1.05"),
        converted_minor=1_050_00,
        fee_rate=Decimal("0.01"),
        fee_minor=10_50,
        received_on=date(2027, 3, 2),
        recorded_by="x",
    )
    applications, tranches, paid = [], [], []
    for agreement_id, city, amount in ((PEACE, LOME, 600_00), (WAR, GOMA, 301_00)):
        application = Application(
            id=uuid.uuid4(),
            fund_id=FUND,
            agreement_id=agreement_id,
            applicant_city_id=city,
            party_city_ids=[str(city), str(LYON)],
            title=f"grant to {city}",
            currency="EUR",
            status=ApplicationStatus.APPROVED,
            submitted_by="x",
            decided_at=WHEN,
        )
        tranche = Tranche(
            id=uuid.uuid4(),
            fund_id=FUND,
            application_id=application.id,
            agreement_id=agreement_id,
            position=1,
            title="first milestone",
            due_date=date(2027, 4, 1),
            amount_minor=amount,
            currency="EUR",
            status=TrancheStatus.DISBURSED,
            disbursed_at=WHEN,
        )
        applications.append(application)
        tranches.append(tranche)
        paid.append(
            Allocation(
                fund_id=FUND,
                tranche_id=tranche.id,
                agreement_id=agreement_id,
                receipt_id=receipt.id,
                pledge_id=pledges[0].id,
                donor_id=DONOR,
                amount_minor=amount,
                currency="EUR",
                tier=Tier.UNEARMARKED,
            )
        )
    agreements = {
        PEACE: KnownAgreement(
            id=PEACE,
            title="Lomé-Lyon",
            party_city_ids=[str(LOME), str(LYON)],
            domains=["waste-collection", "drinking-water", "transport"],
            status="active",
            status_version=WHEN,
        ),
        WAR: KnownAgreement(
            id=WAR,
            title="Goma-Lyon",
            party_city_ids=[str(GOMA), str(LYON)],
            domains=[],
            status="suspended",
            status_version=WHEN,
        ),
    }
    cities = {
        LOME: KnownCity(id=LOME, name="Lomé", country_code="TG"),
        LYON: KnownCity(id=LYON, name="Lyon", country_code="FR"),
        GOMA: KnownCity(id=GOMA, name="Goma", country_code="CD", in_conflict_zone=True),
    }
    return FundFacts(
        fund=fund,
        balances={},
        pledges=pledges,
        receipts=[receipt],
        in_kind_pledges=[],
        in_kind_deliveries=[],
        paid=paid,
        applications=applications,
        tranches=tranches,
        agreements=agreements,
        cities=cities,
    )


@pytest.mark.parametrize(
    ("amount", "parts", "shares"),
    [(100, 3, [34, 33, 33]), (2, 3, [1, 1, 0]), (9, 1, [9]), (10_000, 6, [1667] * 4 + [1666] * 2)],
)
def test_money_is_split_evenly_and_adds_up(amount: int, parts: int, shares: list[int]) -> None:
    assert reports.split_evenly(amount, parts) == shares
    assert sum(shares) == amount


def test_a_conflict_zone_partnership_is_withheld_whole_and_an_unknown_one_too() -> None:
    privacy = facts().privacy()
    assert (privacy.withheld(PEACE), privacy.withheld(WAR), privacy.withheld(uuid.uuid4())) == (
        False,
        True,
        True,
    )
    assert privacy.party_names(PEACE) == ["Lomé", "Lyon"]
    # Lyon is not in a conflict zone, but naming it would point to its partner there.
    assert privacy.party_names(WAR) == [WITHHELD, WITHHELD]
    assert privacy.agreement_title(WAR) == WITHHELD
    assert privacy.countries(WAR) == ["CD", "FR"]


def test_a_donor_s_trail_hides_conflict_zones_from_the_donor_not_from_the_fund() -> None:
    given = facts()
    for withhold, titles in ((True, ["Lomé-Lyon", WITHHELD]), (False, ["Lomé-Lyon", "Goma-Lyon"])):
        trail = reports.money_trail(given, DONOR, withhold=withhold)
        (pledge,) = trail.pledges
        (receipt,) = pledge.receipts
        assert sorted(p.agreement for p in receipt.paid_for) == sorted(titles)
        assert (receipt.net, receipt.unspent) == (Decimal("1039.50"), Decimal("138.50"))
    assert reports.money_trail(given, uuid.uuid4(), withhold=True).pledges == []


def test_the_public_view_splits_an_agreement_s_money_over_its_domains() -> None:
    view = reports.transparency_view(facts())
    assert [(d.domain, d.disbursed) for d in view.by_domain] == [
        ("drinking-water", Decimal("200.00")),
        ("transport", Decimal("200.00")),
        ("unspecified", Decimal("301.00")),
        ("waste-collection", Decimal("200.00")),
    ]
    assert [(d.donor, d.donors) for d in view.donors] == [
        ("Ville de Genève", 1),
        ("individual donors", 1),
    ]
    assert "Jeanne" not in view.model_dump_json()


@pytest.mark.parametrize(
    ("cancelled", "status", "activity_status"),
    [(0, FundStatus.OPEN, "2"), (250_00, FundStatus.CLOSED, "3")],
)
def test_the_iati_file_is_valid_for_open_and_closed_funds_and_cancelled_pledges(
    cancelled: int, status: FundStatus, activity_status: str
) -> None:
    document = etree.fromstring(
        exports.iati_activities(facts(cancelled=cancelled, status=status), WHEN)
    )
    IATI.assertValid(document)
    fund = document.find("iati-activity")
    assert fund.find("activity-status").get("code") == activity_status
    commitments = [
        t.findtext("value")
        for t in fund.findall("transaction")
        if t.find("transaction-type").get("code") == "11"
    ]
    # A cancellation is a negative commitment, right after the pledge it reduces.
    assert commitments == ["1000.00", *(["-250.00"] if cancelled else []), "50.00"]
    peace = document.find(
        f"iati-activity/[iati-identifier='{exports.fund_activity_id(facts())}-{PEACE}']"
    )
    assert [s.get("percentage") for s in peace.findall("sector")] == ["33.34", "33.33", "33.33"]
    assert [c.get("code") for c in peace.findall("recipient-country")] == ["TG"]
    war = document.find(
        f"iati-activity/[iati-identifier='{exports.fund_activity_id(facts())}-{WAR}']"
    )
    assert war.find("activity-status").get("code") == "6"  # suspended
    assert b"Goma" not in etree.tostring(document)


def test_the_360giving_rows_withhold_the_recipient_in_a_conflict_zone() -> None:
    rows = exports.giving_csv(facts(), WHEN).splitlines()
    assert rows[0].split(",") == exports.GIVING_COLUMNS
    assert len(rows) == 3
    assert "Goma" not in "\n".join(rows)
    assert any(",withheld," in row and ",CD," in row for row in rows)
