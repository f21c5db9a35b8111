"""Money and access rules, free of I/O. Amounts are Decimal in the API and integer minor units in
storage, never float."""

import uuid
from decimal import Decimal
from enum import StrEnum

import pycountry
from babel.numbers import get_currency_precision

from shared.auth import Principal, Role
from shared.errors import Forbidden


class DonorKind(StrEnum):
    CITY = "city"
    GOVERNMENT = "government"
    COMPANY = "company"
    FOUNDATION = "foundation"
    INDIVIDUAL = "individual"
    NETWORK = "network"
    MULTILATERAL = "multilateral"  # e.g. a UNDP trust fund


def currency_code(code: str) -> str:
    """The ISO 4217 code for `code`, upper-cased; ValueError names the bad input."""
    normalised = code.strip().upper()
    if len(normalised) != 3 or pycountry.currencies.get(alpha_3=normalised) is None:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (e.g. 'EUR', 'XOF')")
    return normalised


def minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in the currency's minor units (cents...). Refuses what a ledger cannot hold:
    zero or negative amounts and more decimals than the currency has (e.g. 10.5 XOF)."""
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"an amount must be positive, not {amount}")
    places = get_currency_precision(currency)
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} has {places} decimal places; {amount} has more")
    return int(scaled)


def from_minor_units(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-get_currency_precision(currency))


def _donor_ids(principal: Principal) -> set[uuid.UUID]:
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
    donors = _donor_ids(principal)
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
        return _donor_ids(principal)
    raise Forbidden(
        f"you do not administer fund {fund_id}; only its administrators see its pledges"
    )
