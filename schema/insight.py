"""The insight's shape (CONTRACT.md, "Insights"), validated before anything is served.

Two kinds of probability never mix: `win_probability` and `probability_shift` come from the market
(consensus odds with the margin removed); `model_probability` is what a language model estimated,
labelled with its basis and model, and absent for the heuristic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Side = Literal["home", "away"]
Momentum = Literal["home", "away", "neutral"]
# Probabilities from different sources are allowed this far from summing to one (rounding).
SUM_TOLERANCE = 0.02


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Probabilities(_Strict):
    """Win probabilities of one match: `draw` only where the sport has one (football's 1X2)."""

    home: float = Field(ge=0.0, le=1.0)
    away: float = Field(ge=0.0, le=1.0)
    draw: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _sums_to_one(self) -> Probabilities:
        total = self.home + self.away + (self.draw or 0.0)
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"probabilities sum to {total:.3f}, not 1")
        return self

    def of(self, outcome: str) -> float | None:
        return {"home": self.home, "away": self.away, "draw": self.draw}.get(outcome)


class KeyEvent(_Strict):
    """An incident that matters to the prices, from the feed's match state."""

    type: str = Field(min_length=1, max_length=40)
    team: Side | None
    period: str | None = Field(max_length=20)
    clock: str | None = Field(max_length=20)
    description: str = Field(min_length=1, max_length=300)


class ProbabilityShift(_Strict):
    """How the market's win probabilities moved over the window before the insight."""

    window_seconds: int = Field(ge=0)
    start: Probabilities
    end: Probabilities
    change: dict[str, float]


class ModelProbability(Probabilities):
    """A language model's own estimate: never the market's, always labelled."""

    basis: Literal["model"] = "model"
    model: str


class Insight(_Strict):
    event_id: str
    sport: str
    summary: str = Field(min_length=1, max_length=800)
    key_events: list[KeyEvent] = Field(max_length=20)
    win_probability: Probabilities
    probability_shift: ProbabilityShift | None
    momentum: Momentum
    predictive_notes: list[str] = Field(max_length=6)
    model_probability: ModelProbability | None
    generator: str = Field(pattern=r"^(heuristic|llm:.+)$")
    fallback_reason: str | None = None
    created_at: datetime
    odds_seq: int = Field(ge=0)


class LLMAnswer(_Strict):
    """A short, factual match insight: what moved the odds and why, the key incidents, which side
    has the momentum, notes on what may come next, and the model's own win probabilities."""

    summary: str = Field(min_length=1, max_length=800)
    key_events: list[KeyEvent] = Field(max_length=20)
    momentum: Momentum
    predictive_notes: list[str] = Field(max_length=6)
    model_probability: Probabilities
