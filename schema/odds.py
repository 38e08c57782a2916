"""Odds formats and exact conversion between them.

Decimal odds are the internal form. American and fractional odds are derived at the edge; every
conversion works on `Decimal`/`Fraction`, never float, so round trips are exact.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache

from schema.errors import InvalidOdds

MIN_DECIMAL = Decimal("1.01")
MAX_DECIMAL = Decimal("1001")
# Served prices use the precision of a bookmaker's display: two places.
PRICE_QUANTUM = Decimal("0.01")
# Fractional odds are shown with bookmaker-sized denominators (17/20, 50/59, 100/1).
MAX_FRACTION_DENOMINATOR = 1000
_ONE = Decimal(1)
_HUNDRED = Decimal(100)


def parse_decimal_odds(value: object) -> Decimal:
    """Decimal odds from a number or string, refusing what no price can be."""
    if isinstance(value, bool) or value is None:
        raise InvalidOdds(f"odds must be a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidOdds(f"odds must be finite, got {value!r}")
        odds = Decimal(repr(value))
    elif isinstance(value, int | Decimal):
        odds = Decimal(value)
    elif isinstance(value, str):
        try:
            odds = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidOdds(f"odds {value!r} is not a number") from None
    else:
        raise InvalidOdds(f"odds must be a number, got {type(value).__name__}")
    return check_decimal_odds(odds)


def check_decimal_odds(odds: Decimal) -> Decimal:
    if not odds.is_finite():
        raise InvalidOdds(f"odds must be finite, got {odds}")
    if odds <= _ONE:
        raise InvalidOdds(f"decimal odds must be greater than 1.0, got {odds}")
    if odds < MIN_DECIMAL:
        raise InvalidOdds(f"decimal odds {odds} are below the minimum {MIN_DECIMAL}")
    if odds > MAX_DECIMAL:
        raise InvalidOdds(f"decimal odds {odds} are above the maximum {MAX_DECIMAL}")
    return odds


def parse_american_odds(value: object) -> Decimal:
    """Decimal odds from American odds such as -118, "+110" or "EVEN"."""
    if isinstance(value, bool) or value is None:
        raise InvalidOdds(f"American odds must be a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().upper()
        if text in {"EV", "EVEN", "EVS"}:
            return Decimal(2)
        try:
            american = Decimal(text)
        except InvalidOperation:
            raise InvalidOdds(f"American odds {value!r} is not a number") from None
    elif isinstance(value, int):
        american = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidOdds(f"American odds must be finite, got {value!r}")
        american = Decimal(repr(value))
    else:
        raise InvalidOdds(f"American odds must be a number, got {type(value).__name__}")
    return american_to_decimal(american)


def american_to_decimal(american: Decimal) -> Decimal:
    if not american.is_finite() or -_HUNDRED < american < _HUNDRED:
        raise InvalidOdds(f"American odds must be <= -100 or >= +100, got {american}")
    odds = _ONE + american / _HUNDRED if american > 0 else _ONE + _HUNDRED / -american
    return check_decimal_odds(odds)


def decimal_to_american(odds: Decimal) -> int:
    """American odds rounded to the whole number a bookmaker would show (1.85 -> -118)."""
    check_decimal_odds(odds)
    if odds >= 2:
        return int(((odds - _ONE) * _HUNDRED).to_integral_value(rounding=ROUND_HALF_UP))
    return -int((_HUNDRED / (odds - _ONE)).to_integral_value(rounding=ROUND_HALF_UP))


def format_american(american: int) -> str:
    return f"+{american}" if american > 0 else str(american)


def decimal_to_fraction(odds: Decimal) -> Fraction:
    """Fractional odds: the simplest fraction with a bookmaker-sized denominator (1.85 -> 17/20)."""
    check_decimal_odds(odds)
    return Fraction(odds - _ONE).limit_denominator(MAX_FRACTION_DENOMINATOR)


def parse_fractional_odds(value: object) -> Decimal:
    """Decimal odds from fractional odds such as "17/20", "evens" or "100/1"."""
    if not isinstance(value, str):
        raise InvalidOdds(f"fractional odds must be a string like '17/20', got {value!r}")
    text = value.strip().lower()
    if text in {"evens", "evs", "ev", "1/1"}:
        return Decimal(2)
    numerator, sep, denominator = text.partition("/")
    if not sep or not numerator.strip().isdigit() or not denominator.strip().isdigit():
        raise InvalidOdds(f"fractional odds {value!r} are not of the form N/D")
    num, den = int(numerator), int(denominator)
    if den == 0 or num == 0:
        raise InvalidOdds(f"fractional odds {value!r} must have a non-zero numerator and denominator")
    return fraction_to_decimal(Fraction(num, den))


def fraction_to_decimal(fraction: Fraction) -> Decimal:
    return check_decimal_odds(_ONE + Decimal(fraction.numerator) / Decimal(fraction.denominator))


def implied_probability(odds: Decimal) -> Decimal:
    return _ONE / odds


@lru_cache(maxsize=65536)
def formats(odds: Decimal) -> tuple[float, str, str]:
    """The three display forms of one served price, computed once per distinct price."""
    fraction = decimal_to_fraction(odds)
    return float(odds), format_american(decimal_to_american(odds)), f"{fraction.numerator}/{fraction.denominator}"


def fair_probabilities(odds: dict[str, Decimal]) -> dict[str, Decimal]:
    """Implied probabilities with the margin removed (proportionally): they sum to exactly one
    up to Decimal precision, whatever overround the prices carry."""
    implied = {outcome: implied_probability(price) for outcome, price in odds.items()}
    book = sum(implied.values(), Decimal(0))
    if book <= 0:
        raise ValueError("no prices to remove a margin from")
    return {outcome: p / book for outcome, p in implied.items()}
