from decimal import Decimal

import pytest

from shared.money import currency_code, from_minor_units, minor_units


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
