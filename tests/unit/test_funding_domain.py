import uuid
from datetime import date
from decimal import Decimal

import pytest

from services.funding import domain
from services.funding.domain import (
    Earmark,
    FundVisibility,
    InstalmentState,
    InstalmentTerms,
)
from services.funding.reference import DOMAIN_CODES, IN_KIND_RATES
from shared.auth import Grant, Principal
from shared.errors import Conflict, DomainError, Forbidden
from shared.money import currency_code, from_minor_units, minor_units, rounded_minor_units


def test_currencies_are_iso_4217() -> None:
    assert currency_code("xof") == "XOF"
    for bad in ("EURO", "ZZZ", ""):
        with pytest.raises(ValueError, match="ISO 4217"):
            currency_code(bad)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("2500.00", "EUR", 250000), ("0.01", "EUR", 1), ("1500", "XOF", 1500), ("1.234", "TND", 1234)],
)
def test_amounts_become_exact_minor_units_and_back(amount: str, currency: str, minor: int) -> None:
    assert minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("0", "EUR", "positive"),
        ("-5", "EUR", "positive"),
        ("NaN", "EUR", "positive"),
        ("1.001", "EUR", "2 decimal places"),
        ("10.5", "XOF", "0 decimal places"),
    ],
)
def test_amounts_a_ledger_cannot_hold_are_refused(amount: str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        minor_units(Decimal(amount), currency)


# --- funding rules (services/funding/domain.py) ------------------------------------------------

JAN, FEB, MAR = date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)


def test_instalments_come_back_oldest_first_when_they_add_up() -> None:
    given = [InstalmentTerms(MAR, 500), InstalmentTerms(JAN, 300), InstalmentTerms(FEB, 200)]
    assert domain.check_instalments(given, 1000, "EUR") == [given[1], given[2], given[0]]
    assert domain.check_instalments([], 1000, "EUR") == []


@pytest.mark.parametrize(
    ("instalments", "message"),
    [
        ([InstalmentTerms(JAN, 300), InstalmentTerms(FEB, 600)], "add up to 9.00 EUR, not the"),
        ([InstalmentTerms(JAN, 500), InstalmentTerms(JAN, 500)], "two instalments fall due on"),
        ([InstalmentTerms(JAN, 1)] * 121, "at most 120 instalments"),
    ],
)
def test_instalments_that_do_not_fit_the_pledge_are_refused(
    instalments: list[InstalmentTerms], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        domain.check_instalments(instalments, 1000, "EUR")


def test_an_earmark_names_one_thing_and_a_known_one() -> None:
    agreement = uuid.uuid4()
    assert domain.check_earmark(Earmark(domain="drinking-water"), DOMAIN_CODES).kind == "domain"
    assert domain.check_earmark(Earmark(country_code="ml", region="Kayes"), DOMAIN_CODES) == (
        Earmark(country_code="ML", region="Kayes")
    )
    assert domain.check_earmark(Earmark(agreement_id=agreement), DOMAIN_CODES).kind == "agreement"


@pytest.mark.parametrize(
    ("earmark", "message"),
    [
        (Earmark(), "names none"),
        (Earmark(domain="drinking-water", country_code="ML"), "names domain, country_code"),
        (Earmark(region="Kayes"), "needs its country_code"),
        (Earmark(domain="space-travel"), "unknown domain code 'space-travel'"),
        (Earmark(country_code="XX"), "not an ISO 3166-1 alpha-2"),
    ],
)
def test_bad_earmarks_say_what_is_wrong(earmark: Earmark, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        domain.check_earmark(earmark, DOMAIN_CODES)


def test_an_earmark_outside_the_funds_domains_is_refused() -> None:
    fund = uuid.uuid4()
    domain.check_earmark_fits_fund(Earmark(domain="transport"), ["transport"], fund)
    domain.check_earmark_fits_fund(Earmark(domain="transport"), [], fund)  # any domain
    domain.check_earmark_fits_fund(Earmark(country_code="ML"), ["transport"], fund)
    with pytest.raises(DomainError, match="funds only drinking-water"):
        domain.check_earmark_fits_fund(Earmark(domain="transport"), ["drinking-water"], fund)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("0.125", "EUR", 12),  # half to even: down to 12
        ("0.135", "EUR", 14),  # half to even: up to 14
        ("0.1251", "EUR", 13),
        ("1523.5", "XOF", 1524),
        ("1522.5", "XOF", 1522),
        ("-0.125", "EUR", -12),
    ],
)
def test_computed_amounts_round_half_to_even(amount: str, currency: str, minor: int) -> None:
    assert rounded_minor_units(Decimal(amount), currency) == minor


def test_a_receipt_is_converted_then_the_fee_taken_each_rounded_once() -> None:
    # 1000.00 CHF at 1.0653 = 1065.30 EUR; 1% fee = 10.653 -> 10.65; net 1054.65.
    figures = domain.receipt_figures(100000, "CHF", "EUR", Decimal("1.0653"), Decimal("0.01"))
    assert (figures.converted_minor, figures.fee_minor, figures.net_minor) == (106530, 1065, 105465)
    # 10 000 000 XOF at 0.001524 EUR = 15240.00 EUR exactly; no fee.
    xof = domain.receipt_figures(10_000_000, "XOF", "EUR", Decimal("0.001524"), Decimal(0))
    assert (xof.converted_minor, xof.fee_minor) == (1524000, 0)
    # 0.05 EUR received, 2.5% fee = 0.00125 -> 0.00: half-even to the cent.
    same = domain.receipt_figures(5, "EUR", "EUR", None, Decimal("0.025"))
    assert (same.converted_minor, same.fee_minor) == (5, 0)
    # EUR to XOF (no minor unit): 10.01 EUR at 655.957 = 6566.129... -> 6566 XOF.
    assert domain.receipt_figures(1001, "EUR", "XOF", Decimal("655.957"), Decimal(0)) == (
        domain.ReceiptFigures(1001, 6566, 0)
    )


@pytest.mark.parametrize(
    ("currency", "rate", "message"),
    [
        ("CHF", None, "give the exchange_rate \\(EUR for 1 CHF\\)"),
        ("EUR", Decimal("1"), "leave exchange_rate out"),
    ],
)
def test_the_rate_is_given_exactly_when_the_currencies_differ(
    currency: str, rate: Decimal | None, message: str
) -> None:
    with pytest.raises(DomainError, match=message):
        domain.receipt_figures(1000, currency, "EUR", rate, Decimal(0))


def test_a_receipt_worth_nothing_after_conversion_or_fee_is_refused() -> None:
    with pytest.raises(DomainError, match=r"worth 0\.00 EUR: too small to deposit"):
        domain.receipt_figures(1, "XOF", "EUR", Decimal("0.001524"), Decimal(0))
    # The fee on 0.01 EUR at the highest rate (25%) rounds to nothing: the cent is deposited.
    assert domain.receipt_figures(1, "EUR", "EUR", None, Decimal("0.25")).net_minor == 1


def test_a_receipt_may_not_exceed_what_is_outstanding() -> None:
    pledge = uuid.uuid4()
    domain.check_receipt_within_outstanding(500, 500, "EUR", pledge)
    with pytest.raises(Conflict, match=r"5\.00 EUR is outstanding on pledge .*5\.01 EUR was given"):
        domain.check_receipt_within_outstanding(501, 500, "EUR", pledge)


def test_receipts_pay_the_oldest_instalment_first() -> None:
    assert domain.allocate_oldest_first([300, 200, 500], 0) == [0, 0, 0]
    assert domain.allocate_oldest_first([300, 200, 500], 450) == [300, 150, 0]
    assert domain.allocate_oldest_first([300, 200, 500], 1000) == [300, 200, 500]


def test_overdue_instalments_are_those_past_due_not_received_and_not_flagged() -> None:
    instalments = [
        InstalmentState(1, JAN, 300, flagged_overdue=False),
        InstalmentState(2, FEB, 200, flagged_overdue=False),
        InstalmentState(3, MAR, 500, flagged_overdue=False),
    ]
    # On 28 Feb, February's instalment is due today: still on time. January's is paid.
    assert domain.newly_overdue(instalments, 300, FEB) == []
    # On 1 March, 100 of February's 200 is unpaid.
    assert domain.newly_overdue(instalments, 400, date(2027, 3, 1)) == [
        domain.OverdueInstalment(2, FEB, 100)
    ]
    flagged = [instalments[0], InstalmentState(2, FEB, 200, flagged_overdue=True), instalments[2]]
    assert domain.newly_overdue(flagged, 0, date(2027, 4, 1)) == [
        domain.OverdueInstalment(1, JAN, 300),
        domain.OverdueInstalment(3, MAR, 500),
    ]


def test_pledge_status_and_cancellation() -> None:
    pledge = uuid.uuid4()
    assert domain.pledge_status(1000, 400, 0) is domain.PledgeStatus.OPEN
    assert domain.pledge_status(1000, 1000, 0) is domain.PledgeStatus.FULFILLED
    assert domain.pledge_status(1000, 400, 600) is domain.PledgeStatus.CANCELLED
    with pytest.raises(Conflict, match="nothing is outstanding"):
        domain.check_cancellable(0, 0, pledge)
    with pytest.raises(Conflict, match="already cancelled"):
        domain.check_cancellable(0, 600, pledge)


def test_staff_days_are_valued_and_deliveries_add_up_to_the_pledged_value() -> None:
    rate = Decimal("333.33")
    pledged = Decimal("10")
    assert domain.staff_days_value(pledged, rate, "EUR") == 333330
    parts = [Decimal("0.33"), Decimal("3.33"), Decimal("6.34")]
    values, before = [], Decimal(0)
    for part in parts:
        values.append(domain.delivery_value(before, part, pledged, rate, "EUR", uuid.uuid4()))
        before += part
    assert values == [11000, 110999, 211331] and sum(values) == 333330
    with pytest.raises(Conflict, match="more than the 0 still to deliver"):
        domain.delivery_value(pledged, Decimal("0.01"), pledged, rate, "EUR", uuid.uuid4())


def test_the_rate_table_is_documented_and_found_by_profession_and_currency() -> None:
    assert IN_KIND_RATES.source and IN_KIND_RATES.as_of
    found = IN_KIND_RATES.rate("water-engineer", "EUR")
    assert found is not None and found.daily_rate == Decimal("400.00")
    assert IN_KIND_RATES.rate("water-engineer", "XOF") is None


def _principal(*grants: str) -> Principal:
    return Principal("someone", "user", frozenset(Grant.parse(g) for g in grants), 0.0)


def test_a_restricted_fund_is_seen_by_its_admins_donors_and_platform_admins_only() -> None:
    fund, donor, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    restricted = FundVisibility.RESTRICTED
    assert domain.fund_visible(FundVisibility.PUBLIC, None, fund, pledged_to_it=False)
    assert not domain.fund_visible(restricted, None, fund, pledged_to_it=False)
    assert domain.fund_visible(restricted, _principal("platform_admin"), fund, False)
    assert domain.fund_visible(restricted, _principal(f"fund_admin:{fund}"), fund, False)
    assert not domain.fund_visible(restricted, _principal(f"fund_admin:{other}"), fund, False)
    assert domain.fund_visible(restricted, _principal(f"donor:{donor}"), fund, True)
    assert not domain.fund_visible(restricted, _principal(f"donor:{other}"), fund, False)


def test_earmarked_expertise_goes_to_its_agreement_only() -> None:
    agreement, pledge = uuid.uuid4(), uuid.uuid4()
    domain.check_delivery_fits_earmark(None, agreement, pledge)
    domain.check_delivery_fits_earmark(Earmark(agreement_id=agreement), agreement, pledge)
    domain.check_delivery_fits_earmark(Earmark(domain="transport"), agreement, pledge)
    with pytest.raises(DomainError, match="delivered to that agreement only"):
        domain.check_delivery_fits_earmark(Earmark(agreement_id=uuid.uuid4()), agreement, pledge)


def test_fund_admins_change_the_description_but_not_the_name_or_fee() -> None:
    fund = uuid.uuid4()
    admin = _principal(f"fund_admin:{fund}")
    domain.check_may_update_fund(admin, fund, ["purpose", "committee"])
    domain.check_may_update_fund(_principal("platform_admin"), fund, ["admin_fee_rate", "name"])
    with pytest.raises(Forbidden, match="only platform administrators change a fund's admin_fee"):
        domain.check_may_update_fund(admin, fund, ["admin_fee_rate", "purpose"])
    with pytest.raises(Forbidden, match="you do not administer fund"):
        domain.check_may_update_fund(_principal(f"fund_admin:{uuid.uuid4()}"), fund, ["purpose"])


@pytest.mark.parametrize("rate", ["-0.01", "0.26", "0.0000001", "NaN"])
def test_fee_rates_are_small_fractions(rate: str) -> None:
    with pytest.raises(ValueError, match="fee rate"):
        domain.check_fee_rate(Decimal(rate))
