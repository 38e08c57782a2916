"""Consensus prices: sources compared on fair probability, weighted by accuracy and freshness.

Per market: each source's implied probabilities are divided by that source's own overround, so
sources with different margins compare fairly. A source weighs `accuracy * freshness`, where
freshness is 1 up to `fresh_seconds`, falls linearly to 0 at `stale_seconds`, and a quote older
than that drops out. With three or more sources, a source whose fair price on any outcome lies
more than `outlier_logit` (log-odds) from the weighted median is excluded from the market and
flagged, as long as outliers stay a minority. The fair consensus is the weighted mean,
renormalised to 1, then the weighted mean overround of the contributing sources is applied back,
so the served price looks like a bookmaker's and `margin` says how much is in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from schema.odds import MIN_DECIMAL, PRICE_QUANTUM

METHOD = "weighted-fair-probability"
METHOD_VERSION = 1
_PERCENT = Decimal(100)


@dataclass(slots=True, frozen=True)
class ConsensusConfig:
    accuracy: Mapping[str, float] = field(default_factory=dict)
    default_accuracy: float = 1.0
    fresh_seconds: float = 30.0
    stale_seconds: float = 120.0
    outlier_logit: float = 0.35
    divergence: float = 0.05
    min_sources_for_outliers: int = 3
    default_margin: float = 0.05

    def weight(self, source: str) -> float:
        base = self.accuracy.get(source)
        if base is None:
            # "delta_stream:b7" inherits the weight configured for its feed when it has none itself.
            base = self.accuracy.get(source.partition(":")[0], self.default_accuracy)
        return base


@dataclass(slots=True)
class SourcePrices:
    """One source's current prices on one market (suspended selections are absent).

    What depends only on the quote (implied probabilities, overround) is computed once, when the
    quote arrives, not on every aggregation.
    """

    odds: dict[str, Decimal]
    probability: dict[str, float]
    overround: float | None
    # Fair probability and its log-odds per outcome, known only when the source prices every outcome.
    fair: dict[str, tuple[float, float]] | None
    received_at: float

    @classmethod
    def of(cls, odds: dict[str, Decimal], n_outcomes: int, received_at: float) -> SourcePrices:
        probability = {o: 1.0 / float(d) for o, d in odds.items()}
        if len(probability) != n_outcomes:
            return cls(odds, probability, None, None, received_at)
        overround = sum(probability.values())
        fair = {o: _fair(p / overround) for o, p in probability.items()}
        return cls(odds, probability, overround, fair, received_at)


def _fair(p: float) -> tuple[float, float]:
    return p, _logit(p)


@dataclass(slots=True, frozen=True)
class OutcomePrice:
    odds: Decimal
    source_count: int
    confidence: float
    flags: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class MarketPrice:
    """The consensus of one market; `outcomes` is empty when some outcome has no usable source."""

    outcomes: dict[str, OutcomePrice]
    margin: Decimal | None
    fresh_sources: int


def freshness(age: float, config: ConsensusConfig) -> float:
    if age <= config.fresh_seconds:
        return 1.0
    if age >= config.stale_seconds:
        return 0.0
    return (config.stale_seconds - age) / (config.stale_seconds - config.fresh_seconds)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _weighted_median(values: list[tuple[float, float]]) -> float:
    ordered = sorted(values)
    half = sum(w for _, w in ordered) / 2
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= half:
            return value
    return ordered[-1][0]


def to_price(probability: float) -> Decimal:
    # Formatting rounds the binary value half-even; ties cannot occur for a computed quotient.
    odds = Decimal(f"{1.0 / probability:.2f}")
    return odds if odds >= MIN_DECIMAL else MIN_DECIMAL


def aggregate(
    outcome_ids: tuple[str, ...],
    books: Mapping[str, SourcePrices],
    now: float,
    config: ConsensusConfig,
) -> MarketPrice:
    flags: dict[str, list[str]] = {o: [] for o in outcome_ids}
    usable: list[tuple[str, float, float, SourcePrices]] = []
    assumed_total = 0.0
    assumed_count = 0
    for source, book in books.items():
        if not book.odds:
            continue
        fresh = freshness(now - book.received_at, config)
        if fresh <= 0.0:
            for o in book.odds:
                if o in flags:
                    flags[o].append(f"stale:{source}")
            continue
        usable.append((source, config.weight(source) * fresh, fresh, book))
        if book.overround is not None:
            assumed_total += book.overround
            assumed_count += 1
    # A source quoting only some outcomes is assumed to carry the others' average overround.
    assumed = assumed_total / assumed_count if assumed_count else 1.0 + config.default_margin

    quotes: dict[str, list[tuple[tuple[float, float], float, float, str]]] = {}
    for o in outcome_ids:
        quoted = [
            (b.fair[o] if b.fair is not None else _fair(b.probability[o] / assumed), w, f, s)
            for s, w, f, b in usable
            if o in b.probability
        ]
        if not quoted:
            return MarketPrice({}, None, len(usable))
        quotes[o] = quoted
    # A source far off on any outcome is out of the whole market: its other prices carry the
    # same distortion through its overround.
    outliers: set[str] = set()
    if len(usable) >= config.min_sources_for_outliers:
        for o, quoted in quotes.items():
            if len(quoted) < config.min_sources_for_outliers:
                continue
            median = _weighted_median([(q[0][1], q[1]) for q in quoted])
            for q in quoted:
                if abs(q[0][1] - median) > config.outlier_logit:
                    outliers.add(q[3])
                    flags[o].append(f"outlier:{q[3]}")
        # Outliers are a minority by definition; when most sources disagree nobody is one, and
        # the spread shows up as divergence instead.
        if outliers and (
            len(outliers) * 2 >= len(usable) or any(all(q[3] in outliers for q in quoted) for quoted in quotes.values())
        ):
            outliers.clear()
            for o in outcome_ids:
                flags[o] = [f for f in flags[o] if not f.startswith("outlier:")]

    fair_consensus: dict[str, float] = {}
    counts: dict[str, int] = {}
    confidence: dict[str, float] = {}
    for o, quoted in quotes.items():
        total_w = total_p = total_f = 0.0
        low, high = 1.0, 0.0
        count = 0
        for (fair, _), weight, fresh, source in quoted:
            if source in outliers:
                continue
            total_w += weight
            total_p += weight * fair
            total_f += fresh
            low, high = min(low, fair), max(high, fair)
            count += 1
        spread = high - low
        if spread > config.divergence:
            flags[o].append("divergence")
        if count == 1:
            flags[o].append("single_source")
        fair_consensus[o] = total_p / total_w
        counts[o] = count
        agreement = max(0.0, 1.0 - spread / (4 * config.divergence))
        confidence[o] = round(count / (count + 1) * agreement * total_f / count, 2)
    norm = sum(fair_consensus.values())

    margin_weight = margin_total = 0.0
    for source, weight, _, book in usable:
        if book.overround is not None and source not in outliers:
            margin_weight += weight
            margin_total += weight * book.overround
    overround = margin_total / margin_weight if margin_weight else assumed

    outcomes: dict[str, OutcomePrice] = {}
    served = Decimal(0)
    for o in outcome_ids:
        odds = to_price(fair_consensus[o] / norm * overround)
        served += 1 / odds
        outcomes[o] = OutcomePrice(odds, counts[o], confidence[o], tuple(sorted(flags[o])) if flags[o] else ())
    margin = ((served - 1) * _PERCENT).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    return MarketPrice(outcomes, margin, len(usable))
