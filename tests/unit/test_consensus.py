from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.consensus import ConsensusConfig, SourcePrices, aggregate, freshness

CONFIG = ConsensusConfig(fresh_seconds=30, stale_seconds=120)
TWO_WAY = ("home", "away")


def quote(home: str, away: str, at: float = 0.0) -> SourcePrices:
    return SourcePrices.of({"home": Decimal(home), "away": Decimal(away)}, TWO_WAY, 1.0, at)


def test_one_source_is_served_as_quoted() -> None:
    price = aggregate(TWO_WAY, {"a": quote("1.85", "2.10")}, 1, CONFIG)
    assert price.outcomes["home"].odds == Decimal("1.85")
    assert price.outcomes["away"].odds == Decimal("2.10")
    assert price.outcomes["home"].flags == ("single_source",)
    assert price.outcomes["home"].source_count == 1


def test_sources_are_compared_with_their_own_margin_removed() -> None:
    # Same fair prices, one book at 2.5% margin and one at 10%: the consensus keeps the fair split.
    low_margin = quote("1.95", "1.95")
    high_margin = quote("1.82", "1.82")
    price = aggregate(TWO_WAY, {"low": low_margin, "high": high_margin}, 1, CONFIG)
    assert price.outcomes["home"].odds == price.outcomes["away"].odds
    assert "divergence" not in price.outcomes["home"].flags


def test_an_outlier_is_excluded_and_flagged() -> None:
    books = {"a": quote("1.85", "2.10"), "b": quote("1.87", "2.05"), "c": quote("3.00", "1.40")}
    price = aggregate(TWO_WAY, books, 1, CONFIG)
    without = aggregate(TWO_WAY, {"a": books["a"], "b": books["b"]}, 1, CONFIG)
    assert price.outcomes["home"].odds == without.outcomes["home"].odds
    assert "outlier:c" in price.outcomes["home"].flags
    assert price.outcomes["home"].source_count == 2


def test_two_disagreeing_sources_are_flagged_as_divergent() -> None:
    price = aggregate(TWO_WAY, {"a": quote("1.60", "2.40"), "b": quote("2.20", "1.70")}, 1, CONFIG)
    assert "divergence" in price.outcomes["home"].flags
    agreeing = aggregate(TWO_WAY, {"a": quote("1.85", "2.10"), "b": quote("1.86", "2.08")}, 1, CONFIG)
    assert price.outcomes["home"].confidence < agreeing.outcomes["home"].confidence


def test_freshness_weights_then_drops_quotes() -> None:
    assert freshness(10, CONFIG) == 1.0
    assert freshness(75, CONFIG) == pytest.approx(0.5)
    assert freshness(120, CONFIG) == 0.0
    old, new = quote("1.50", "2.80", at=0), quote("2.00", "1.90", at=70)
    fresh_both = aggregate(TWO_WAY, {"old": old, "new": new}, 20 + 0, CONFIG)
    aging = aggregate(TWO_WAY, {"old": old, "new": new}, 100, CONFIG)
    # At t=100 the old quote (age 100) weighs 2/9 against the new one's 1: the price leans to the new book.
    assert aging.outcomes["home"].odds > fresh_both.outcomes["home"].odds
    dropped = aggregate(TWO_WAY, {"old": old, "new": new}, 130, CONFIG)
    assert dropped.outcomes["home"].odds == Decimal("2.00")
    assert "stale:old" in dropped.outcomes["home"].flags


def test_no_fresh_source_leaves_the_market_unpriced() -> None:
    price = aggregate(TWO_WAY, {"a": quote("1.85", "2.10", at=0)}, 500, CONFIG)
    assert price.outcomes == {}
    assert price.fresh_sources == 0


def test_an_outcome_nobody_prices_leaves_the_market_unpriced() -> None:
    partial = SourcePrices.of({"home": Decimal("1.85")}, TWO_WAY, 1.0, 0)
    assert aggregate(TWO_WAY, {"a": partial}, 1, CONFIG).outcomes == {}


def test_a_partial_quote_borrows_the_margin_of_complete_ones() -> None:
    complete = quote("1.90", "1.90")
    partial = SourcePrices.of({"home": Decimal("1.90")}, TWO_WAY, 1.0, 0)
    price = aggregate(TWO_WAY, {"full": complete, "part": partial}, 1, CONFIG)
    assert price.outcomes["home"].odds == Decimal("1.90")
    assert price.outcomes["home"].source_count == 2
    assert price.outcomes["away"].source_count == 1


def test_accuracy_weights_pull_the_price() -> None:
    books = {"good": quote("1.70", "2.30"), "poor": quote("2.10", "1.80")}
    even = aggregate(TWO_WAY, books, 1, CONFIG)
    books["good"] = SourcePrices.of(books["good"].odds, TWO_WAY, 4.0, 0)
    trusted = aggregate(TWO_WAY, books, 1, CONFIG)
    assert trusted.outcomes["home"].odds < even.outcomes["home"].odds


def test_a_feed_weight_applies_to_its_bookmakers() -> None:
    config = ConsensusConfig(accuracy={"swift": 0.5})
    assert config.weight("swift:b7") == 0.5
    assert config.weight("swift") == 0.5
    assert config.weight("other") == 1.0


def test_the_margin_reports_the_served_overround() -> None:
    price = aggregate(TWO_WAY, {"a": quote("1.85", "2.10")}, 1, CONFIG)
    expected = (1 / Decimal("1.85") + 1 / Decimal("2.10") - 1) * 100
    assert price.margin == expected.quantize(Decimal("0.01"))


three_way = st.tuples(
    st.floats(min_value=0.05, max_value=0.9), st.floats(min_value=0.05, max_value=0.9), st.floats(0.05, 0.9)
)
margins = st.floats(min_value=0.0, max_value=0.12)


def book_from(probabilities: tuple[float, float, float], margin: float, at: float) -> SourcePrices:
    total = sum(probabilities)
    odds = {
        o: max(Decimal("1.01"), Decimal(f"{1 / (p / total * (1 + margin)):.2f}"))
        for o, p in zip(("home", "draw", "away"), probabilities, strict=True)
    }
    return SourcePrices.of(odds, ("home", "draw", "away"), 1.0, at)


@given(st.lists(st.tuples(three_way, margins, st.floats(0, 200)), min_size=1, max_size=6))
def test_consensus_is_a_coherent_book(sources: list[tuple[tuple[float, float, float], float, float]]) -> None:
    books = {f"s{i}": book_from(p, m, at) for i, (p, m, at) in enumerate(sources)}
    price = aggregate(("home", "draw", "away"), books, 200, CONFIG)
    if not price.outcomes:
        assert all(200 - b.received_at >= CONFIG.stale_seconds for b in books.values())
        return
    for outcome in price.outcomes.values():
        assert outcome.odds >= Decimal("1.01")
        assert 0 <= outcome.confidence <= 1
        assert 1 <= outcome.source_count <= len(books)
    overround = sum(1 / o.odds for o in price.outcomes.values())
    assert Decimal("0.97") < overround < Decimal("1.25")


@given(three_way, margins)
def test_identical_sources_agree_with_each_one(probabilities: tuple[float, float, float], margin: float) -> None:
    single = aggregate(("home", "draw", "away"), {"a": book_from(probabilities, margin, 0)}, 1, CONFIG)
    many = {name: book_from(probabilities, margin, 0) for name in ("a", "b", "c", "d")}
    together = aggregate(("home", "draw", "away"), many, 1, CONFIG)
    for o in ("home", "draw", "away"):
        assert together.outcomes[o].odds == single.outcomes[o].odds
        assert not [f for f in together.outcomes[o].flags if f.startswith("outlier")]


@given(three_way, margins, st.sampled_from(["home", "draw", "away"]))
def test_one_wild_source_among_four_never_moves_the_price(
    probabilities: tuple[float, float, float], margin: float, target: str
) -> None:
    honest = {name: book_from(probabilities, margin, 0) for name in ("a", "b", "c")}
    baseline = aggregate(("home", "draw", "away"), honest, 1, CONFIG)
    wild_odds = dict(honest["a"].odds)
    wild_odds[target] = min(Decimal(1000), wild_odds[target] * 4)
    books = {**honest, "wild": SourcePrices.of(wild_odds, ("home", "draw", "away"), 1.0, 0)}
    price = aggregate(("home", "draw", "away"), books, 1, CONFIG)
    assert "outlier:wild" in price.outcomes[target].flags
    assert price.outcomes[target].odds == baseline.outcomes[target].odds
