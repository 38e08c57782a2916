from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schema.errors import InvalidOdds
from schema.odds import (
    PRICE_QUANTUM,
    american_to_decimal,
    decimal_to_american,
    decimal_to_fraction,
    format_american,
    formats,
    fraction_to_decimal,
    implied_probability,
    parse_american_odds,
    parse_decimal_odds,
    parse_fractional_odds,
)

two_place_odds = st.integers(min_value=101, max_value=100_000).map(lambda n: Decimal(n) / 100)
# -100 and +100 are both evens; +100 is the form served, so -100 is left to its own test.
american = st.one_of(st.integers(min_value=100, max_value=100_000), st.integers(min_value=-10_000, max_value=-101))


@pytest.mark.parametrize(
    ("odds", "expected_american", "expected_fraction"),
    [
        ("1.85", -118, "17/20"),
        ("2.10", 110, "11/10"),
        ("2.00", 100, "1/1"),
        ("1.50", -200, "1/2"),
        ("3.75", 275, "11/4"),
        ("1.01", -10000, "1/100"),
        ("101", 10000, "100/1"),
    ],
)
def test_known_conversions(odds: str, expected_american: int, expected_fraction: str) -> None:
    value = Decimal(odds)
    assert decimal_to_american(value) == expected_american
    fraction = decimal_to_fraction(value)
    assert f"{fraction.numerator}/{fraction.denominator}" == expected_fraction


def test_the_contract_examples_round_trip() -> None:
    assert american_to_decimal(Decimal(decimal_to_american(Decimal("1.85")))).quantize(PRICE_QUANTUM) == Decimal("1.85")
    assert format_american(decimal_to_american(Decimal("2.10"))) == "+110"
    assert formats(Decimal("1.85")) == (1.85, "-118", "17/20")


@given(two_place_odds)
def test_two_place_decimal_survives_american_round_trip(odds: Decimal) -> None:
    assert american_to_decimal(Decimal(decimal_to_american(odds))).quantize(PRICE_QUANTUM) == odds


@given(american)
def test_american_survives_decimal_round_trip(value: int) -> None:
    assert decimal_to_american(american_to_decimal(Decimal(value))) == value


@given(st.integers(1, 500), st.integers(1, 100))
def test_fraction_survives_decimal_round_trip(numerator: int, denominator: int) -> None:
    fraction = Fraction(numerator, denominator)
    odds = Decimal(1) + Decimal(numerator) / Decimal(denominator)
    if odds < Decimal("1.01") or odds > 1001:
        return
    assert decimal_to_fraction(fraction_to_decimal(fraction)) == fraction


@given(two_place_odds)
def test_two_place_decimal_survives_fractional_round_trip(odds: Decimal) -> None:
    fraction = decimal_to_fraction(odds)
    assert fraction_to_decimal(fraction) == odds


@given(two_place_odds)
def test_implied_probability_is_the_inverse(odds: Decimal) -> None:
    probability = implied_probability(odds)
    assert 0 < probability < 1
    assert abs(probability * odds - 1) < Decimal("1e-20")


@given(two_place_odds, two_place_odds)
def test_american_order_follows_decimal_order(a: Decimal, b: Decimal) -> None:
    if a < b:
        assert decimal_to_american(a) <= decimal_to_american(b)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (1.0, "greater than 1.0"),
        (0.5, "greater than 1.0"),
        (-3, "greater than 1.0"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        ("NaN", "finite"),
        ("abc", "not a number"),
        (None, "must be a number"),
        (True, "must be a number"),
        (1.005, "below the minimum"),
        (5000, "above the maximum"),
        ([1.5], "must be a number"),
    ],
)
def test_invalid_decimal_odds_are_refused_with_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidOdds, match=reason):
        parse_decimal_odds(raw)


def test_minus_one_hundred_is_served_as_evens() -> None:
    assert american_to_decimal(Decimal(-100)) == Decimal(2)
    assert format_american(decimal_to_american(Decimal(2))) == "+100"


def test_parsers_accept_vendor_spellings() -> None:
    assert parse_decimal_odds("1.85") == Decimal("1.85")
    assert parse_decimal_odds(1.85) == Decimal("1.85")
    assert parse_american_odds("-118") == american_to_decimal(Decimal(-118))
    assert parse_american_odds("+110") == Decimal("2.10")
    assert parse_american_odds("EVEN") == Decimal(2)
    assert parse_fractional_odds("17/20") == Decimal("1.85")
    assert parse_fractional_odds("evens") == Decimal(2)


@pytest.mark.parametrize("raw", ["-99", "50", "+0", "abc", "nan"])
def test_invalid_american_odds_are_refused(raw: str) -> None:
    with pytest.raises(InvalidOdds):
        parse_american_odds(raw)


@pytest.mark.parametrize("raw", ["17-20", "0/5", "5/0", "a/b", "1.5/2", ""])
def test_invalid_fractional_odds_are_refused(raw: str) -> None:
    with pytest.raises(InvalidOdds):
        parse_fractional_odds(raw)
