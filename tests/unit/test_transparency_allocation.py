"""The allocation rule: which receipts pay for a disbursement (most restricted money first,
oldest first), as a pure function."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.funding.domain import Earmark
from services.funding.transparency.allocation import (
    RULE,
    EarmarkedFundsInsufficient,
    Source,
    Target,
    Tier,
    allocate_amount,
    tier_of,
)

AGREEMENT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
OTHER_AGREEMENT = uuid.UUID("a0000000-0000-4000-8000-000000000002")
TARGET = Target.of(
    AGREEMENT, domains=["water_sanitation"], regions=["Kayes ", "Dakar"], countries=["ML", "sn"]
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def receipt(name: str, remaining: int, day: int, earmark: Earmark | None = None) -> Source:
    """A receipt named for readable assertions (its id is derived from the name)."""
    return Source(
        receipt_id=uuid.uuid5(uuid.NAMESPACE_URL, name),
        pledge_id=uuid.uuid5(uuid.NAMESPACE_URL, f"pledge {name}"),
        donor_id=None,
        received_at=START + timedelta(days=day),
        remaining_minor=remaining,
        earmark=earmark,
    )


def names(shares: list) -> list[tuple[str, int, Tier]]:
    by_id = {uuid.uuid5(uuid.NAMESPACE_URL, n): n for n in "abcdefghij"}
    return [(by_id[s.source.receipt_id], s.amount_minor, s.tier) for s in shares]


@pytest.mark.parametrize(
    ("earmark", "tier"),
    [
        (None, Tier.UNEARMARKED),
        (Earmark(agreement_id=AGREEMENT), Tier.AGREEMENT),
        (Earmark(agreement_id=OTHER_AGREEMENT), None),
        (Earmark(domain="water_sanitation"), Tier.EARMARK),
        (Earmark(domain="health"), None),
        (Earmark(country_code="ML"), Tier.EARMARK),
        (Earmark(country_code="SN"), Tier.EARMARK),
        (Earmark(country_code="HT"), None),
        # A region is a region of the earmark's country, named as the registry names it.
        (Earmark(country_code="ML", region="kayes"), Tier.EARMARK),
        (Earmark(country_code="ML", region="Sikasso"), None),
        (Earmark(country_code="HT", region="Kayes"), None),
    ],
)
def test_a_receipt_may_pay_only_where_its_earmark_holds(
    earmark: Earmark | None, tier: Tier | None
) -> None:
    assert tier_of(earmark, TARGET) == tier


def test_money_earmarked_to_the_agreement_goes_first_then_other_earmarks_then_unearmarked() -> None:
    sources = [
        receipt("a", 1_000, day=1),  # oldest, but unearmarked: last
        receipt("b", 1_000, day=2, earmark=Earmark(country_code="ML")),
        receipt("c", 1_000, day=3, earmark=Earmark(agreement_id=AGREEMENT)),
        receipt("d", 1_000, day=4, earmark=Earmark(domain="water_sanitation")),
    ]
    shares = allocate_amount(sources, TARGET, 3_500, "EUR")
    assert names(shares) == [
        ("c", 1_000, Tier.AGREEMENT),
        ("b", 1_000, Tier.EARMARK),
        ("d", 1_000, Tier.EARMARK),
        ("a", 500, Tier.UNEARMARKED),
    ]


def test_within_a_tier_the_oldest_receipt_pays_first_and_may_be_split() -> None:
    sources = [
        receipt("c", 700, day=9),
        receipt("a", 300, day=1),
        receipt("b", 500, day=5),
    ]
    assert names(allocate_amount(sources, TARGET, 600, "EUR")) == [
        ("a", 300, Tier.UNEARMARKED),
        ("b", 300, Tier.UNEARMARKED),
    ]


def test_receipts_of_the_same_moment_are_taken_in_receipt_id_order_every_time() -> None:
    sources = [receipt(n, 100, day=0) for n in "abcde"]
    first = allocate_amount(sources, TARGET, 250, "EUR")
    again = allocate_amount(list(reversed(sources)), TARGET, 250, "EUR")
    assert first == again
    assert [s.source.receipt_id for s in first] == sorted((s.receipt_id for s in sources), key=str)[
        :3
    ]


def test_spent_receipts_and_receipts_for_elsewhere_are_skipped() -> None:
    sources = [
        receipt("a", 0, day=1),
        receipt("b", 1_000, day=2, earmark=Earmark(agreement_id=OTHER_AGREEMENT)),
        receipt("c", 1_000, day=3, earmark=Earmark(domain="health")),
        receipt("d", 400, day=4),
    ]
    assert names(allocate_amount(sources, TARGET, 400, "EUR")) == [("d", 400, Tier.UNEARMARKED)]


def test_money_earmarked_elsewhere_never_pays_even_when_the_fund_holds_enough() -> None:
    sources = [
        receipt("a", 300, day=1),
        receipt("b", 5_000, day=2, earmark=Earmark(agreement_id=OTHER_AGREEMENT)),
        receipt("c", 200, day=3, earmark=Earmark(country_code="ML")),
    ]
    with pytest.raises(EarmarkedFundsInsufficient) as refused:
        allocate_amount(sources, TARGET, 600, "EUR")
    assert refused.value.status_code == 409
    assert "have 5.00 EUR unallocated, less than the 6.00 EUR asked" in refused.value.message
    assert RULE in refused.value.message


def test_exactly_enough_eligible_money_is_all_used() -> None:
    sources = [
        receipt("a", 300, day=1),
        receipt("b", 200, day=2, earmark=Earmark(country_code="SN")),
    ]
    shares = allocate_amount(sources, TARGET, 500, "EUR")
    assert sum(s.amount_minor for s in shares) == 500
    assert names(shares) == [("b", 200, Tier.EARMARK), ("a", 300, Tier.UNEARMARKED)]


def test_amounts_are_in_the_currency_s_minor_units() -> None:
    with pytest.raises(EarmarkedFundsInsufficient, match="have 5 JPY unallocated"):
        allocate_amount([receipt("a", 5, day=1)], TARGET, 6, "JPY")


@pytest.mark.parametrize("amount", [0, -1])
def test_nothing_or_less_cannot_be_allocated(amount: int) -> None:
    with pytest.raises(ValueError, match="positive amount"):
        allocate_amount([receipt("a", 5, day=1)], TARGET, amount, "EUR")
