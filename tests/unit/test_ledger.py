import pytest

from services.funding.ledger import accounts
from services.funding.ledger.accounts import Account, Side, UnbalancedMovement, credit, debit
from services.funding.ledger.balances import AccountTotal, derive


def test_a_receipt_in_another_currency_balances_each_currency_through_the_exchange_account() -> (
    None
):
    lines = accounts.receipt(100_000, "USD", 92_000, "EUR", fee_minor=920)
    by_currency: dict[str, int] = {}
    for line in lines:
        signed = line.amount_minor if line.side is Side.DEBIT else -line.amount_minor
        by_currency[line.currency] = by_currency.get(line.currency, 0) + signed
    assert by_currency == {"USD": 0, "EUR": 0}
    assert debit(Account.AVAILABLE, 91_080, "EUR") in lines
    assert debit(Account.ADMIN_FEES, 920, "EUR") in lines


@pytest.mark.parametrize(
    ("lines", "rule"),
    [
        ([debit(Account.AVAILABLE, 5, "EUR")], "at least one debit and one credit"),
        (
            [debit(Account.AVAILABLE, 5, "EUR"), credit(Account.CONTRIBUTIONS, 4, "EUR")],
            "differ by {'EUR': 1}",
        ),
        (
            [debit(Account.AVAILABLE, 5, "EUR"), credit(Account.CONTRIBUTIONS, 5, "USD")],
            "differ by",
        ),
        (
            [debit(Account.AVAILABLE, 0, "EUR"), credit(Account.CONTRIBUTIONS, 0, "EUR")],
            "must be positive",
        ),
        (
            [debit(Account.AVAILABLE, 5, "EUR"), credit(Account.IN_KIND_CONTRIBUTIONS, 5, "EUR")],
            "in-kind value never moves",
        ),
    ],
)
def test_an_invalid_movement_is_refused_naming_the_rule(
    lines: list[accounts.Line], rule: str
) -> None:
    with pytest.raises(UnbalancedMovement, match=rule.replace("{", r"\{").replace("}", r"\}")):
        accounts.check_balanced(lines)


def test_a_fee_as_large_as_the_receipt_is_refused() -> None:
    with pytest.raises(UnbalancedMovement, match="fee"):
        accounts.receipt(1_000, "EUR", 1_000, "EUR", fee_minor=1_000)


def test_balances_follow_money_from_pledge_to_disbursement_and_keep_in_kind_apart() -> None:
    movements = [
        accounts.pledge(10_000, "EUR"),
        accounts.receipt(6_000, "EUR", 6_000, "EUR", fee_minor=60),
        accounts.commitment(2_000, "EUR"),
        accounts.disbursement(1_500, "EUR"),
        accounts.commitment_release(500, "EUR"),
        accounts.in_kind_pledge(4_000, "EUR"),
        accounts.in_kind_delivery(1_000, "EUR"),
    ]
    totals = [
        AccountTotal(line.account, line.side, line.currency, line.amount_minor)
        for lines in movements
        for line in lines
    ]
    eur = derive(totals)["EUR"]
    assert (eur.pledged, eur.outstanding, eur.received, eur.admin_fees) == (
        10_000,
        4_000,
        6_000,
        60,
    )
    assert (eur.available, eur.committed, eur.disbursed) == (4_440, 0, 1_500)
    assert (eur.in_kind_pledged, eur.in_kind_delivered) == (4_000, 1_000)
