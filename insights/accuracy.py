"""How good insight probabilities were, once each match's result is known.

Pure scoring: Brier score, log loss and one-vs-rest calibration, grouped by generator and sport.
A void or abandoned match has no result and so contributes no `Forecast` at all.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Forecast:
    """One generator's probabilities for one match, with the outcome that happened."""

    generator: str
    sport: str
    probabilities: Mapping[str, float]
    outcome: str

    def __post_init__(self) -> None:
        _check_probabilities(self.probabilities)
        _check_outcome(self.probabilities, self.outcome)


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """Predictions in [lower, upper) (the last bin also holds 1.0) and how often they came true."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float

    def json(self) -> dict[str, Any]:
        return {
            "lower": round(self.lower, _DIGITS),
            "upper": round(self.upper, _DIGITS),
            "count": self.count,
            "mean_predicted": round(self.mean_predicted, _DIGITS),
            "observed_rate": round(self.observed_rate, _DIGITS),
        }


@dataclass(frozen=True, slots=True)
class AccuracyReport:
    """Mean scores and calibration of one (generator, sport) group."""

    generator: str
    sport: str
    forecasts: int
    brier: float
    log_loss: float
    calibration: list[CalibrationBin]

    def json(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "sport": self.sport,
            "forecasts": self.forecasts,
            "brier": round(self.brier, _DIGITS),
            "log_loss": round(self.log_loss, _DIGITS),
            "calibration": [b.json() for b in self.calibration],
        }


def brier(probabilities: Mapping[str, float], outcome: str) -> float:
    """Multi-class Brier score: sum of (p - o)^2 over the forecast's outcomes, 0 (perfect) to 2."""
    _check_outcome(probabilities, outcome)
    return math.fsum((p - (1.0 if key == outcome else 0.0)) ** 2 for key, p in probabilities.items())


def log_loss(probabilities: Mapping[str, float], outcome: str, eps: float = 1e-15) -> float:
    """Negative natural log of the probability given to what happened, clipped to [eps, 1 - eps]."""
    _check_outcome(probabilities, outcome)
    # Clipping keeps a confident miss finite instead of infinite.
    return -math.log(max(eps, min(1.0 - eps, probabilities[outcome])))


def calibration_bins(pairs: Iterable[tuple[float, bool]], bins: int = 10) -> list[CalibrationBin]:
    """Bucket (predicted probability, happened) pairs into `bins` equal bins; only non-empty ones are returned."""
    _check_bins(bins)
    predicted: list[list[float]] = [[] for _ in range(bins)]
    happened = [0] * bins
    for p, hit in pairs:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability {p!r} is outside [0, 1]")
        index = _bin_index(p, bins)
        predicted[index].append(p)
        if hit:
            happened[index] += 1
    return [
        CalibrationBin(
            lower=i / bins,
            upper=(i + 1) / bins,
            count=len(values),
            mean_predicted=math.fsum(values) / len(values),
            observed_rate=happened[i] / len(values),
        )
        for i, values in enumerate(predicted)
        if values
    ]


def score(forecasts: Iterable[Forecast], bins: int = 10) -> list[AccuracyReport]:
    """One report per (generator, sport), sorted by generator then sport."""
    _check_bins(bins)
    groups: defaultdict[tuple[str, str], list[Forecast]] = defaultdict(list)
    for forecast in forecasts:
        groups[forecast.generator, forecast.sport].append(forecast)
    return [_report(generator, sport, group, bins) for (generator, sport), group in sorted(groups.items())]


def _report(generator: str, sport: str, group: list[Forecast], bins: int) -> AccuracyReport:
    pairs = [(p, key == f.outcome) for f in group for key, p in f.probabilities.items()]
    return AccuracyReport(
        generator=generator,
        sport=sport,
        forecasts=len(group),
        brier=math.fsum(brier(f.probabilities, f.outcome) for f in group) / len(group),
        log_loss=math.fsum(log_loss(f.probabilities, f.outcome) for f in group) / len(group),
        calibration=calibration_bins(pairs, bins),
    )


def _bin_index(p: float, bins: int) -> int:
    index = min(int(p * bins), bins - 1)
    # p * bins can round across an edge; settle on the bin whose i/bins edges really hold p.
    if index > 0 and p < index / bins:
        index -= 1
    elif index < bins - 1 and p >= (index + 1) / bins:
        index += 1
    return index


def _check_outcome(probabilities: Mapping[str, float], outcome: str) -> None:
    if outcome not in probabilities:
        raise ValueError(f"outcome {outcome!r} is not among the forecast's outcomes {sorted(probabilities)}")


def _check_probabilities(probabilities: Mapping[str, float]) -> None:
    for key, p in probabilities.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability of {key!r} is {p!r}, outside [0, 1]")


def _check_bins(bins: int) -> None:
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
