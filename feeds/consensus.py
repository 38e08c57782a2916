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
from decimal import Decimal
from typing import cast

from schema.odds import MIN_DECIMAL, PRICE_QUANTUM

METHOD = "weighted-fair-probability"
METHOD_VERSION = 1


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

    Everything that depends only on the quote is computed once, when it arrives, as tuples aligned
    with the market's outcomes: implied probability, and when the source prices every outcome, its
    overround, fair probabilities and their log-odds.
    """

    odds: dict[str, Decimal]
    probability: tuple[float | None, ...]
    overround: float | None
    fair: tuple[float, ...] | None
    logit: tuple[float, ...] | None
    accuracy: float
    received_at: float

    @classmethod
    def of(
        cls, odds: dict[str, Decimal], outcome_ids: tuple[str, ...], accuracy: float, received_at: float
    ) -> SourcePrices:
        probability = tuple(1.0 / float(odds[o]) if o in odds else None for o in outcome_ids)
        if None in probability:
            return cls(odds, probability, None, None, None, accuracy, received_at)
        complete = cast(tuple[float, ...], probability)
        overround = sum(complete)
        fair = tuple(p / overround for p in complete)
        return cls(odds, probability, overround, fair, tuple(_logit(p) for p in fair), accuracy, received_at)


@dataclass(slots=True)
class OutcomePrice:
    odds: Decimal
    source_count: int
    confidence: float
    flags: tuple[str, ...]


@dataclass(slots=True)
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


def _weighted_median(values: list[tuple[float, float, str]]) -> float:
    values.sort()
    half = sum(v[1] for v in values) / 2
    running = 0.0
    for value, weight, _ in values:
        running += weight
        if running >= half:
            return value
    return values[-1][0]


_PLACES = -int(PRICE_QUANTUM.as_tuple().exponent)


def to_price(probability: float) -> Decimal:
    # Formatting rounds the binary value half-even; ties cannot occur for a computed quotient.
    odds = Decimal(f"{1.0 / probability:.{_PLACES}f}")
    return odds if odds >= MIN_DECIMAL else MIN_DECIMAL


# (source, weight, freshness, fair probabilities, their log-odds, overround if the source is complete)
_Row = tuple[str, float, float, tuple[float | None, ...], tuple[float | None, ...], float | None]


def aggregate(
    outcome_ids: tuple[str, ...],
    books: Mapping[str, SourcePrices],
    now: float,
    config: ConsensusConfig,
) -> MarketPrice:
    n = len(outcome_ids)
    rows: list[_Row] = []
    partial: list[tuple[str, SourcePrices, float]] = []
    flags: list[list[str]] = [[] for _ in outcome_ids]
    over_total = 0.0
    for source, book in books.items():
        if not book.odds:
            continue
        fresh = freshness(now - book.received_at, config)
        if fresh <= 0.0:
            for i, p in enumerate(book.probability):
                if p is not None:
                    flags[i].append(f"stale:{source}")
            continue
        if book.fair is None or book.logit is None or book.overround is None:
            partial.append((source, book, fresh))
            continue
        rows.append((source, book.accuracy * fresh, fresh, book.fair, book.logit, book.overround))
        over_total += book.overround
    # A source quoting only some outcomes is assumed to carry the complete ones' average overround.
    assumed = over_total / len(rows) if rows else 1.0 + config.default_margin
    for source, book, fresh in partial:
        fair = tuple(None if p is None else p / assumed for p in book.probability)
        logit = tuple(None if p is None else _logit(p) for p in fair)
        rows.append((source, book.accuracy * fresh, fresh, fair, logit, None))
    if partial:
        for i in range(n):
            if all(row[3][i] is None for row in rows):
                return MarketPrice({}, None, len(rows))
    elif not rows:
        return MarketPrice({}, None, 0)

    # A source far off on any outcome is out of the whole market: its other prices carry the same
    # distortion through its overround. Outliers are a minority by definition; when most sources
    # disagree nobody is one, and the spread shows up as divergence instead.
    outliers: set[str] = set()
    minimum = config.min_sources_for_outliers
    if len(rows) >= minimum:
        threshold = config.outlier_logit
        for i in range(n):
            quoted = [(lg, row[1], row[0]) for row in rows if (lg := row[4][i]) is not None]
            if len(quoted) < minimum:
                continue
            # The median lies between the extremes, so a range within the threshold has no outlier.
            if max(quoted)[0] - min(quoted)[0] <= threshold:
                continue
            median = _weighted_median(quoted)
            for lg, _, source in quoted:
                if abs(lg - median) > threshold:
                    outliers.add(source)
                    flags[i].append(f"outlier:{source}")
        if outliers and (
            len(outliers) * 2 >= len(rows)
            or any(all(row[0] in outliers for row in rows if row[3][i] is not None) for i in range(n))
        ):
            outliers.clear()
            flags = [[f for f in outcome_flags if not f.startswith("outlier:")] for outcome_flags in flags]

    divergence = config.divergence
    consensus: list[float] = []
    counts: list[int] = []
    confidence: list[float] = []
    for i in range(n):
        total_w = total_p = total_f = 0.0
        low, high = 1.0, 0.0
        count = 0
        for source, weight, fresh, fair, _, _ in rows:
            p = fair[i]
            if p is None or source in outliers:
                continue
            total_w += weight
            total_p += weight * p
            total_f += fresh
            if p < low:
                low = p
            if p > high:
                high = p
            count += 1
        spread = high - low if count > 1 else 0.0
        if spread > divergence:
            flags[i].append("divergence")
        if count == 1:
            flags[i].append("single_source")
        consensus.append(total_p / total_w if total_w > 0 else 1.0 / n)
        counts.append(count)
        agreement = max(0.0, 1.0 - spread / (4 * divergence))
        confidence.append(round(count / (count + 1) * agreement * total_f / count, 2))
    norm = sum(consensus)

    margin_weight = margin_total = 0.0
    for source, weight, _, _, _, overround in rows:
        if overround is not None and source not in outliers:
            margin_weight += weight
            margin_total += weight * overround
    overround = margin_total / margin_weight if margin_weight else assumed

    outcomes: dict[str, OutcomePrice] = {}
    served = 0.0
    scale = overround / norm
    for i, o in enumerate(outcome_ids):
        odds = to_price(consensus[i] * scale)
        served += 1.0 / float(odds)
        outcome_flags = flags[i]
        outcomes[o] = OutcomePrice(
            odds, counts[i], confidence[i], tuple(sorted(outcome_flags)) if outcome_flags else ()
        )
    # The margin is a display figure of the two-place prices above; float precision is ample.
    return MarketPrice(outcomes, Decimal(f"{(served - 1.0) * 100:.2f}"), len(rows))
