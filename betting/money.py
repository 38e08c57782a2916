"""Money: exact decimals in cents. Amounts in are checked; amounts out round down to the cent, so the
house never pays a fraction it does not have."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from schema.errors import InvalidRequest

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000")


def amount(value: object, name: str = "amount") -> Decimal:
    """A positive amount in cents, from a string or an integer (a float would not be exact);
    raises InvalidRequest."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise InvalidRequest(f"'{name}' is a decimal string such as \"10.00\"")
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise InvalidRequest(f"'{name}' must be a number, got {value!r}") from None
    if not parsed.is_finite() or parsed <= 0:
        raise InvalidRequest(f"'{name}' must be positive, got {value!r}")
    if parsed != parsed.quantize(CENT):
        raise InvalidRequest(f"'{name}' has at most two decimal places, got {value!r}")
    if parsed > MAX_AMOUNT:
        raise InvalidRequest(f"'{name}' is at most {MAX_AMOUNT}")
    return parsed.quantize(CENT)


def cents_down(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)
