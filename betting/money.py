"""Money: exact decimals in cents. Amounts in are parsed strictly; amounts out round down to the
cent, so the house never pays a fraction it does not have."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

from schema.errors import InvalidRequest

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000.00")
# ASCII digits only (no exponent, sign, spaces, separators or other scripts' digits): what a
# person types as an amount, and nothing a parser might read as something else.
_PLAIN = re.compile(r"(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?")


def amount(value: object, name: str = "amount") -> Decimal:
    """A positive amount of at most MAX_AMOUNT with at most two decimal places, from a string such
    as "10.50" or a whole number (a float would not be exact); raises InvalidRequest."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidRequest(f"'{name}' is a decimal string such as \"10.00\"")
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) is None:
            raise InvalidRequest(
                f"'{name}' must be digits with at most two decimal places, such as \"10.00\", got {value[:40]!r}"
            )
        parsed = Decimal(value)
    else:
        parsed = Decimal(value)
        if not parsed.is_finite():
            raise InvalidRequest(f"'{name}' must be a finite amount, got {value}")
    if parsed <= 0:
        raise InvalidRequest(f"'{name}' must be positive, got {value!r}")
    if parsed > MAX_AMOUNT:
        raise InvalidRequest(f"'{name}' is at most {MAX_AMOUNT}")
    if parsed != parsed.quantize(CENT):
        raise InvalidRequest(f"'{name}' has at most two decimal places, got {value}")
    return parsed.quantize(CENT)


def cents_down(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)
