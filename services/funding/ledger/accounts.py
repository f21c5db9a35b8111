"""The chart of accounts of a fund and the movements between them, free of I/O.

Every movement is a balanced set of lines: per currency, debits equal credits. Amounts are
positive integers in the currency's minor units (see shared.money); the side says which way.

Cash accounts (amounts in the currency the money is in):
- `pledges_receivable` (debit): pledged, not yet received.
- `contributions` (credit): everything donors pledged; the other side of a pledge.
- `available` (debit): received, net of fees, not yet committed: what the fund can spend.
- `admin_fees` (debit): the administration fee retained at deposit (multi-partner trust funds).
- `committed` (debit): set aside for a tranche decided but not yet paid.
- `disbursed` (debit): paid to partnerships.
- `currency_exchange` (either): the trading account of a conversion at receipt, so that each
  currency balances on its own (a USD receipt into a EUR fund: USD leaves the receivable
  through it, EUR enters `available` from it, at the rate recorded on the movement).

In-kind accounts (technical assistance valued at a documented rate; never in a cash balance):
- `in_kind_pledged` (debit): staff-days pledged, not yet delivered.
- `in_kind_contributions` (credit): everything pledged in kind.
- `in_kind_delivered` (debit): technical assistance delivered to partnerships.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import DomainError


class Account(StrEnum):
    PLEDGES_RECEIVABLE = "pledges_receivable"
    CONTRIBUTIONS = "contributions"
    AVAILABLE = "available"
    ADMIN_FEES = "admin_fees"
    COMMITTED = "committed"
    DISBURSED = "disbursed"
    CURRENCY_EXCHANGE = "currency_exchange"
    IN_KIND_PLEDGED = "in_kind_pledged"
    IN_KIND_CONTRIBUTIONS = "in_kind_contributions"
    IN_KIND_DELIVERED = "in_kind_delivered"


IN_KIND_ACCOUNTS = frozenset(
    {Account.IN_KIND_PLEDGED, Account.IN_KIND_CONTRIBUTIONS, Account.IN_KIND_DELIVERED}
)


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


@dataclass(frozen=True)
class Line:
    account: Account
    side: Side
    amount_minor: int
    currency: str


class MovementKind(StrEnum):
    PLEDGE = "pledge"
    PLEDGE_CANCELLATION = "pledge_cancellation"
    RECEIPT = "receipt"
    COMMITMENT = "commitment"
    COMMITMENT_RELEASE = "commitment_release"  # a commitment given back to `available`
    DISBURSEMENT = "disbursement"
    IN_KIND_PLEDGE = "in_kind_pledge"
    IN_KIND_DELIVERY = "in_kind_delivery"


class UnbalancedMovement(DomainError):
    """A programming error as much as bad input: no movement may leave a currency unbalanced."""


def debit(account: Account, amount_minor: int, currency: str) -> Line:
    return Line(account, Side.DEBIT, amount_minor, currency)


def credit(account: Account, amount_minor: int, currency: str) -> Line:
    return Line(account, Side.CREDIT, amount_minor, currency)


def check_balanced(lines: Iterable[Line]) -> list[Line]:
    """The lines, if they form a valid movement: at least two, every amount positive, cash never
    mixed with in-kind in one movement, and per currency debits equal to credits."""
    lines = list(lines)
    if len(lines) < 2:
        raise UnbalancedMovement("a movement needs at least one debit and one credit")
    for line in lines:
        if line.amount_minor <= 0:
            raise UnbalancedMovement(f"ledger amounts must be positive, not {line.amount_minor}")
    kinds = {line.account in IN_KIND_ACCOUNTS for line in lines}
    if len(kinds) > 1:
        raise UnbalancedMovement("in-kind value never moves in the same movement as cash")
    net: dict[str, int] = defaultdict(int)
    for line in lines:
        net[line.currency] += line.amount_minor if line.side is Side.DEBIT else -line.amount_minor
    unbalanced = {currency: amount for currency, amount in net.items() if amount}
    if unbalanced:
        raise UnbalancedMovement(f"debits and credits differ by {unbalanced} (minor units)")
    return lines


def _transfer(to: Account, from_: Account, amount_minor: int, currency: str) -> list[Line]:
    return check_balanced(
        [debit(to, amount_minor, currency), credit(from_, amount_minor, currency)]
    )


def pledge(amount_minor: int, currency: str) -> list[Line]:
    return _transfer(Account.PLEDGES_RECEIVABLE, Account.CONTRIBUTIONS, amount_minor, currency)


def receipt(
    received_minor: int,
    received_currency: str,
    converted_minor: int,
    fund_currency: str,
    fee_minor: int = 0,
) -> list[Line]:
    """Money received against a pledge: out of the receivable (in the pledge's currency), into
    `available` (in the fund's currency, net of the fee). `converted_minor` is the received amount
    in the fund's currency at the recorded rate (equal to `received_minor` when they match)."""
    if not 0 <= fee_minor < converted_minor:
        raise UnbalancedMovement(f"the fee ({fee_minor}) must be below the amount received")
    lines = [credit(Account.PLEDGES_RECEIVABLE, received_minor, received_currency)]
    if received_currency != fund_currency:
        lines += [
            debit(Account.CURRENCY_EXCHANGE, received_minor, received_currency),
            credit(Account.CURRENCY_EXCHANGE, converted_minor, fund_currency),
        ]
    elif converted_minor != received_minor:
        raise UnbalancedMovement("same currency: the converted amount is the received amount")
    lines.append(debit(Account.AVAILABLE, converted_minor - fee_minor, fund_currency))
    if fee_minor:
        lines.append(debit(Account.ADMIN_FEES, fee_minor, fund_currency))
    return check_balanced(lines)


def commitment(amount_minor: int, currency: str) -> list[Line]:
    return _transfer(Account.COMMITTED, Account.AVAILABLE, amount_minor, currency)


def commitment_release(amount_minor: int, currency: str) -> list[Line]:
    return _transfer(Account.AVAILABLE, Account.COMMITTED, amount_minor, currency)


def disbursement(amount_minor: int, currency: str) -> list[Line]:
    """Paying out what was committed."""
    return _transfer(Account.DISBURSED, Account.COMMITTED, amount_minor, currency)


def pledge_cancellation(amount_minor: int, currency: str) -> list[Line]:
    """What will never be received of a pledge leaves the receivable and the contributions."""
    return _transfer(Account.CONTRIBUTIONS, Account.PLEDGES_RECEIVABLE, amount_minor, currency)


def in_kind_pledge(value_minor: int, currency: str) -> list[Line]:
    return _transfer(Account.IN_KIND_PLEDGED, Account.IN_KIND_CONTRIBUTIONS, value_minor, currency)


def in_kind_delivery(value_minor: int, currency: str) -> list[Line]:
    return _transfer(Account.IN_KIND_DELIVERED, Account.IN_KIND_PLEDGED, value_minor, currency)
