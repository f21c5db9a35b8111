"""Money as the standards define it, for every service: ISO 4217 codes and each currency's
decimal places. Amounts are Decimal in APIs and events, integer minor units in storage, never
float, and never rounded: more decimals than the currency has is refused."""

from decimal import ROUND_HALF_EVEN, Decimal

import pycountry
from babel.numbers import get_currency_precision


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


def rounded_minor_units(amount: Decimal, currency: str) -> int:
    """A computed amount (a conversion, a fee, a valuation) in the currency's minor units, rounded
    half to even ("banker's rounding", so that rounding errors do not drift one way over many
    amounts). Amounts people give are never rounded: see `minor_units`."""
    return int(
        amount.scaleb(get_currency_precision(currency)).quantize(Decimal(1), ROUND_HALF_EVEN)
    )
