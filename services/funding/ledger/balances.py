"""A fund's balances, derived from its ledger entries and never stored: a balance that could be
edited could disagree with the entries that explain it."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.funding.ledger.accounts import Account, Side


@dataclass(frozen=True)
class AccountTotal:
    account: Account
    side: Side
    currency: str
    amount_minor: int


@dataclass
class Balances:
    """One currency's balances of one fund, in minor units.

    `received` is cash that entered the fund in this currency (net available + committed +
    disbursed + fees: cash enters only by receipts and then only moves between those accounts).
    `pledged` and `outstanding` are in the currency donors pledged in, which may differ from
    the fund's. In-kind value is reported apart and is never part of `available`."""

    currency: str
    pledged: int = 0
    outstanding: int = 0
    received: int = 0
    admin_fees: int = 0
    available: int = 0
    committed: int = 0
    disbursed: int = 0
    in_kind_pledged: int = 0
    in_kind_delivered: int = 0
    by_account: dict[Account, int] = field(default_factory=dict)


# The side on which each account's balance is positive.
_NORMAL_SIDE = {
    Account.CONTRIBUTIONS: Side.CREDIT,
    Account.IN_KIND_CONTRIBUTIONS: Side.CREDIT,
}


def account_balance(account: Account, debits: int, credits: int) -> int:
    normal = _NORMAL_SIDE.get(account, Side.DEBIT)
    return debits - credits if normal is Side.DEBIT else credits - debits


def derive(totals: Iterable[AccountTotal]) -> dict[str, Balances]:
    sums: dict[tuple[str, Account], dict[Side, int]] = defaultdict(lambda: defaultdict(int))
    for total in totals:
        sums[total.currency, total.account][total.side] += total.amount_minor
    result: dict[str, Balances] = {}
    for (currency, account), sides in sorted(sums.items()):
        balances = result.setdefault(currency, Balances(currency))
        balances.by_account[account] = account_balance(
            account, sides[Side.DEBIT], sides[Side.CREDIT]
        )
    for balances in result.values():
        of = balances.by_account.get
        balances.pledged = of(Account.CONTRIBUTIONS, 0)
        balances.outstanding = of(Account.PLEDGES_RECEIVABLE, 0)
        balances.admin_fees = of(Account.ADMIN_FEES, 0)
        balances.available = of(Account.AVAILABLE, 0)
        balances.committed = of(Account.COMMITTED, 0)
        balances.disbursed = of(Account.DISBURSED, 0)
        balances.received = (
            balances.available + balances.committed + balances.disbursed + balances.admin_fees
        )
        balances.in_kind_pledged = of(Account.IN_KIND_CONTRIBUTIONS, 0)
        balances.in_kind_delivered = of(Account.IN_KIND_DELIVERED, 0)
    return result
