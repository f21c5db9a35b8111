"""Funding rules, free of I/O. Money itself (ISO 4217 codes, minor units) follows shared.money:
amounts are Decimal in the API and integer minor units in storage, never float.

Rounding: amounts people give (pledges, instalments, receipts) are never rounded; an amount with
more decimals than its currency has is refused. Amounts the service computes (a conversion at
receipt, the administration fee, the value of staff-days) are rounded half to even to the minor
unit of the currency they are in (shared.money.rounded_minor_units), each once, in this order:
converted = round(received x rate), fee = round(converted x fee rate), net = converted - fee."""

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

import pycountry

from shared import money
from shared.auth import Principal, Role
from shared.errors import Conflict, DomainError, Forbidden


class DonorKind(StrEnum):
    """Every kind of donor the source documents name."""

    CITY = "city"  # Geneva, Lyon, Bamako (the International City Solidarity Fund)
    GOVERNMENT = "government"  # Monaco to Dakar and Cotonou; the Belgian pilot project
    COMPANY = "company"
    FOUNDATION = "foundation"
    INDIVIDUAL = "individual"  # Sister Cities' individual contributions
    NETWORK = "network"
    MULTILATERAL = "multilateral"  # e.g. a UNDP trust fund, UNV/UNDP support
    SUPRANATIONAL = "supranational"  # e.g. the European Commission's support for training
    LOCAL_INSTITUTION = "local_institution"  # Sister Cities' local institutions
    COMMUNITY = "community"  # communities raising their own funds


class FundVisibility(StrEnum):
    PUBLIC = "public"  # anyone sees the fund and its balances
    RESTRICTED = "restricted"  # only its administrators, its donors and platform administrators


class FundStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # takes no new pledge; receipts of what was pledged still arrive


class PledgeStatus(StrEnum):
    OPEN = "open"  # something is still outstanding
    FULFILLED = "fulfilled"  # received in full
    CANCELLED = "cancelled"  # what was outstanding was written off


# A fund's administrators may change its description; its name and its administration fee (what
# donors' money bears) are decisions of the platform's administrators.
PLATFORM_ONLY_FUND_FIELDS = frozenset({"name", "admin_fee_rate"})
MAX_FEE_RATE = Decimal("0.25")
MAX_INSTALMENTS = 120


# --- who may do what -----------------------------------------------------------------------


def donor_ids(principal: Principal) -> set[uuid.UUID]:
    try:
        return {uuid.UUID(scope) for scope in principal.scopes(Role.DONOR)}
    except ValueError as exc:
        # The registry grants donor roles scoped by donor id; anything else is a bad grant.
        raise Forbidden(f"a donor grant must name a donor id: {exc}") from exc


def pledging_donor(principal: Principal, fund_id: uuid.UUID) -> uuid.UUID | None:
    """The donor a new pledge in `fund_id` is in the name of, from the caller's token alone (never
    from the request body, or a donor could pledge in another's name).

    A donor's client pledges as itself: its one donor id. A fund's administrator records a pledge
    of an offline donor (no donor account): None. A caller holding both pledges as the donor."""
    donors = donor_ids(principal)
    if len(donors) > 1:
        raise Forbidden(
            f"this token acts for {len(donors)} donors; pledge with a token for one donor, "
            "so that the pledge is in that donor's name"
        )
    if donors:
        return donors.pop()
    if principal.administers_fund(fund_id):
        return None
    raise Forbidden(f"you do not administer fund {fund_id}; only its administrators record pledges")


def visible_donors(principal: Principal, fund_id: uuid.UUID) -> set[uuid.UUID] | None:
    """Whose pledges in `fund_id` the caller may read: None for all of them (the fund's
    administrators and platform administrators), else only the caller's own donors' pledges.
    Funds are public; who pledged what is not, hence the narrower rule."""
    if principal.is_platform_admin or principal.administers_fund(fund_id):
        return None
    if principal.has_role(Role.DONOR):
        return donor_ids(principal)
    raise Forbidden(
        f"you do not administer fund {fund_id}; only its administrators see its pledges"
    )


def fund_visible(
    visibility: FundVisibility,
    principal: Principal | None,
    fund_id: uuid.UUID,
    pledged_to_it: bool,
) -> bool:
    """Whether the caller (None: anonymous) may see the fund at all. A restricted fund is seen by
    its administrators, platform administrators and the donors who pledged to it (`pledged_to_it`:
    the caller's donor did); to anyone else it does not exist (404), so that its existence is not
    revealed either."""
    if visibility is FundVisibility.PUBLIC:
        return True
    if principal is None:
        return False
    return principal.is_platform_admin or principal.administers_fund(fund_id) or pledged_to_it


def check_administers(principal: Principal, fund_id: uuid.UUID, action: str) -> None:
    if not principal.administers_fund(fund_id):
        raise Forbidden(f"you do not administer fund {fund_id}; only its administrators {action}")


def check_oversees(principal: Principal, fund_id: uuid.UUID, action: str) -> None:
    """The fund's administrators and platform administrators."""
    if not (principal.is_platform_admin or principal.administers_fund(fund_id)):
        raise Forbidden(
            f"you do not administer fund {fund_id}; only its administrators and platform "
            f"administrators {action}"
        )


def check_may_update_fund(
    principal: Principal, fund_id: uuid.UUID, changed: Collection[str]
) -> None:
    if principal.is_platform_admin:
        return
    check_oversees(principal, fund_id, "change it")
    reserved = sorted(set(changed) & PLATFORM_ONLY_FUND_FIELDS)
    if reserved:
        raise Forbidden(
            f"only platform administrators change a fund's {' and '.join(reserved)}; "
            "ask one, or leave those fields out"
        )


def check_open_for_pledges(status: FundStatus, fund_id: uuid.UUID) -> None:
    if status is FundStatus.CLOSED:
        raise Conflict(
            f"fund {fund_id} is closed: a closed fund takes no new pledge (receipts of earlier "
            "pledges are still recorded)"
        )


def check_open_for_changes(status: FundStatus, fund_id: uuid.UUID) -> None:
    if status is FundStatus.CLOSED:
        raise Conflict(f"fund {fund_id} is closed: a closed fund's description no longer changes")


def amount_minor(amount: Decimal, currency: str, what: str) -> int:
    """A given amount in minor units, once its currency is known (e.g. a receipt's is the
    pledge's): bad money is the caller's error (422), naming what was wrong."""
    try:
        return money.minor_units(amount, currency)
    except ValueError as exc:
        raise DomainError(f"{what}: {exc}") from exc


# --- funds -----------------------------------------------------------------------------------


def check_fee_rate(rate: Decimal) -> Decimal:
    """The share of each receipt retained at deposit, as a fraction (0.01 for 1%)."""
    if not rate.is_finite() or not 0 <= rate <= MAX_FEE_RATE:
        raise ValueError(
            f"the administration fee rate is a fraction between 0 and {MAX_FEE_RATE} "
            f"(0.01 for 1%), not {rate}"
        )
    if rate.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError(f"the administration fee rate has at most 6 decimals, not {rate}")
    return rate


def check_domains(codes: Sequence[str], known: Collection[str]) -> list[str]:
    unknown = sorted(set(codes) - set(known))
    if unknown:
        raise ValueError(
            f"unknown domain codes: {', '.join(unknown)}; see the registry's GET /domains"
        )
    return sorted(set(codes))


# --- pledges: instalments and earmarks ---------------------------------------------------------


@dataclass(frozen=True)
class InstalmentTerms:
    due_on: date
    amount_minor: int


def check_instalments(
    instalments: Sequence[InstalmentTerms], total_minor: int, currency: str
) -> list[InstalmentTerms]:
    """A pledge's instalments, oldest first; [] for a pledge paid in one go. They must add up to
    the pledge exactly, on different due dates (each amount is already valid money)."""
    if not instalments:
        return []
    if len(instalments) > MAX_INSTALMENTS:
        raise ValueError(f"at most {MAX_INSTALMENTS} instalments, not {len(instalments)}")
    dates = [i.due_on for i in instalments]
    repeated = sorted({d for d in dates if dates.count(d) > 1})
    if repeated:
        raise ValueError(
            f"two instalments fall due on {repeated[0].isoformat()}: merge them into one"
        )
    total = sum(i.amount_minor for i in instalments)
    if total != total_minor:
        raise ValueError(
            f"the instalments add up to {money.from_minor_units(total, currency)} {currency}, "
            f"not the {money.from_minor_units(total_minor, currency)} {currency} pledged"
        )
    return sorted(instalments, key=lambda i: i.due_on)


@dataclass(frozen=True)
class Earmark:
    """What a donor restricts its money to: one domain of the taxonomy, or one region (a country,
    and optionally a region of it by name), or one agreement. One kind only, so that whoever
    allocates the money (transparency) has a single test to apply."""

    domain: str | None = None
    country_code: str | None = None
    region: str | None = None
    agreement_id: uuid.UUID | None = None

    @property
    def kind(self) -> str:
        if self.domain is not None:
            return "domain"
        return "region" if self.country_code is not None else "agreement"


def check_earmark(earmark: Earmark, known_domains: Collection[str]) -> Earmark:
    """The earmark, normalised (country code upper-cased); ValueError says what is wrong."""
    given = [
        name
        for name, value in (
            ("domain", earmark.domain),
            ("country_code", earmark.country_code),
            ("agreement_id", earmark.agreement_id),
        )
        if value is not None
    ]
    if earmark.region is not None and earmark.country_code is None:
        raise ValueError("an earmarked region needs its country_code (ISO 3166-1, e.g. 'ML')")
    if len(given) != 1:
        raise ValueError(
            "an earmark names exactly one of domain, country_code (with an optional region) or "
            f"agreement_id; this one names {', '.join(given) or 'none'}"
        )
    if earmark.domain is not None and earmark.domain not in known_domains:
        raise ValueError(f"unknown domain code {earmark.domain!r}; see the registry's GET /domains")
    if earmark.country_code is not None:
        country = pycountry.countries.get(alpha_2=earmark.country_code.strip().upper())
        if country is None:
            raise ValueError(
                f"{earmark.country_code!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'BF')"
            )
        return Earmark(country_code=country.alpha_2, region=earmark.region)
    return earmark


def check_earmark_fits_fund(
    earmark: Earmark | None, eligible_domains: Collection[str], fund_id: uuid.UUID
) -> None:
    if earmark and earmark.domain and eligible_domains and earmark.domain not in eligible_domains:
        raise DomainError(
            f"fund {fund_id} funds only {', '.join(sorted(eligible_domains))}: money earmarked "
            f"for {earmark.domain!r} cannot be spent by it"
        )


# --- receipts ----------------------------------------------------------------------------------


def allocate_oldest_first(instalments_minor: Sequence[int], received_minor: int) -> list[int]:
    """How much of `received_minor` each instalment (oldest first) has received: receipts pay
    the oldest instalment first, then the next."""
    allocated = []
    left = received_minor
    for amount in instalments_minor:
        part = min(amount, left)
        allocated.append(part)
        left -= part
    return allocated


def outstanding_minor(amount_minor: int, received_minor: int, cancelled_minor: int) -> int:
    return amount_minor - received_minor - cancelled_minor


def pledge_status(amount_minor: int, received_minor: int, cancelled_minor: int) -> PledgeStatus:
    if cancelled_minor:
        return PledgeStatus.CANCELLED
    return PledgeStatus.FULFILLED if received_minor >= amount_minor else PledgeStatus.OPEN


def check_receipt_within_outstanding(
    received_minor: int, outstanding: int, currency: str, pledge_id: uuid.UUID
) -> None:
    def shown(minor: int) -> str:
        return f"{money.from_minor_units(minor, currency)} {currency}"

    if received_minor > outstanding:
        raise Conflict(
            f"a receipt cannot be larger than what is still outstanding on the pledge: "
            f"{shown(outstanding)} is outstanding on pledge {pledge_id}, and {shown(received_minor)}"
            " was given; record the outstanding amount, and the rest as a new pledge"
        )


@dataclass(frozen=True)
class ReceiptFigures:
    """A receipt's amounts in minor units: as received (the pledge's currency), converted to the
    fund's currency, the fee retained from that, and what becomes available (net)."""

    received_minor: int
    converted_minor: int
    fee_minor: int

    @property
    def net_minor(self) -> int:
        return self.converted_minor - self.fee_minor


def receipt_figures(
    received_minor: int,
    received_currency: str,
    fund_currency: str,
    exchange_rate: Decimal | None,
    fee_rate: Decimal,
) -> ReceiptFigures:
    """The amounts of a receipt, converted at `exchange_rate` (units of the fund's currency for
    one unit received) when the currencies differ, the fee taken at deposit on the converted
    amount. Rounded as the module says."""
    if received_currency == fund_currency:
        if exchange_rate is not None:
            raise DomainError(
                f"the pledge is in the fund's currency ({fund_currency}): leave exchange_rate out"
            )
        converted = received_minor
    else:
        if exchange_rate is None:
            raise DomainError(
                f"the pledge is in {received_currency} and the fund in {fund_currency}: give the "
                f"exchange_rate ({fund_currency} for 1 {received_currency}) the money was "
                "converted at, and its rate_source"
            )
        received = money.from_minor_units(received_minor, received_currency)
        converted = money.rounded_minor_units(received * exchange_rate, fund_currency)
    fee = money.rounded_minor_units(
        money.from_minor_units(converted, fund_currency) * fee_rate, fund_currency
    )
    if fee >= converted:  # a receipt that converts to nothing (the fee is at most 25%)
        raise DomainError(
            f"this receipt is worth {money.from_minor_units(converted, fund_currency)} "
            f"{fund_currency}: too small to deposit after the administration fee"
        )
    return ReceiptFigures(received_minor, converted, fee)


@dataclass(frozen=True)
class InstalmentState:
    number: int
    due_on: date
    amount_minor: int
    flagged_overdue: bool


@dataclass(frozen=True)
class OverdueInstalment:
    number: int
    due_on: date
    unpaid_minor: int


def newly_overdue(
    instalments: Sequence[InstalmentState], received_minor: int, today: date
) -> list[OverdueInstalment]:
    """The instalments past their due date (the due date itself is still on time) and not fully
    received, not flagged before: each is flagged once, whatever happens later."""
    ordered = sorted(instalments, key=lambda i: i.due_on)
    allocated = allocate_oldest_first([i.amount_minor for i in ordered], received_minor)
    return [
        OverdueInstalment(i.number, i.due_on, i.amount_minor - got)
        for i, got in zip(ordered, allocated, strict=True)
        if i.due_on < today and got < i.amount_minor and not i.flagged_overdue
    ]


def check_cancellable(outstanding: int, cancelled_minor: int, pledge_id: uuid.UUID) -> None:
    if cancelled_minor:
        raise Conflict(f"pledge {pledge_id} was already cancelled")
    if outstanding <= 0:
        raise Conflict(
            f"nothing is outstanding on pledge {pledge_id}: it was received in full, and there "
            "is nothing to write off"
        )


# --- in-kind expertise ---------------------------------------------------------------------


def staff_days_value(staff_days: Decimal, daily_rate: Decimal, currency: str) -> int:
    value = money.rounded_minor_units(staff_days * daily_rate, currency)
    if value <= 0:
        raise DomainError(f"{staff_days} staff-days at {daily_rate} {currency} are worth nothing")
    return value


def delivery_value(
    delivered_before: Decimal,
    delivering: Decimal,
    pledged: Decimal,
    daily_rate: Decimal,
    currency: str,
    in_kind_pledge_id: uuid.UUID,
) -> int:
    """The value of `delivering` staff-days, as the difference of the rounded values of what was
    delivered after and before, so that deliveries add up to exactly the pledged value."""
    remaining = pledged - delivered_before
    if delivering > remaining:
        raise Conflict(
            f"{delivering:f} staff-days is more than the {remaining.normalize():f} still to "
            f"deliver of in-kind "
            f"pledge {in_kind_pledge_id}"
        )
    after = money.rounded_minor_units((delivered_before + delivering) * daily_rate, currency)
    before = money.rounded_minor_units(delivered_before * daily_rate, currency)
    if after <= before:
        raise DomainError(f"{delivering} staff-days at {daily_rate} {currency} are worth nothing")
    return after - before


def check_delivery_fits_earmark(
    earmark: Earmark | None, agreement_id: uuid.UUID, in_kind_pledge_id: uuid.UUID
) -> None:
    """Expertise earmarked for an agreement is delivered to that agreement only. (Domain and
    region earmarks are the allocation's to check, which knows the agreements' domains.)"""
    if earmark and earmark.agreement_id is not None and earmark.agreement_id != agreement_id:
        raise DomainError(
            f"in-kind pledge {in_kind_pledge_id} is earmarked for agreement "
            f"{earmark.agreement_id}: its staff-days are delivered to that agreement only"
        )
