"""Alert rules over the live book: sharp price moves, probability thresholds, source divergence,
sources going down. The engine watches deltas as the book makes them and raises alerts; it never
blocks the odds path (what it raises is handed on, not awaited)."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feeds.book import SourceHealth
from schema.errors import InvalidRequest
from schema.model import Delta

KINDS = ("price_move", "probability_cross", "divergence", "source_down")


@dataclass(slots=True, frozen=True)
class AlertRule:
    name: str
    kind: str
    # price_move: percent within seconds; probability_cross: threshold; divergence: probability spread.
    percent: float = 0.0
    seconds: float = 60.0
    threshold: float = 0.0
    spread: float = 0.0
    cooldown: float = 60.0

    @classmethod
    def of(cls, body: dict[str, Any]) -> AlertRule:
        """Raises InvalidRequest naming the problem."""
        kind = body.get("kind")
        if kind not in KINDS:
            raise InvalidRequest(f"alert rule kind must be one of {', '.join(KINDS)}, not {kind!r}")
        name = body.get("name") or kind
        try:
            rule = cls(
                str(name),
                kind,
                percent=float(body.get("percent", 0)),
                seconds=float(body.get("seconds", 60)),
                threshold=float(body.get("threshold", 0)),
                spread=float(body.get("spread", 0)),
                cooldown=float(body.get("cooldown", 60)),
            )
        except (TypeError, ValueError):
            raise InvalidRequest(f"alert rule {name!r}: numbers expected") from None
        if kind == "price_move" and not (rule.percent > 0 and rule.seconds > 0):
            raise InvalidRequest(f"alert rule {name!r}: price_move needs percent > 0 and seconds > 0")
        if kind == "probability_cross" and not 0 < rule.threshold < 1:
            raise InvalidRequest(f"alert rule {name!r}: probability_cross needs a threshold between 0 and 1")
        if kind == "divergence" and not 0 < rule.spread < 1:
            raise InvalidRequest(f"alert rule {name!r}: divergence needs a spread between 0 and 1")
        return rule


DEFAULT_RULES = (
    AlertRule("sharp_move", "price_move", percent=10.0, seconds=60.0),
    AlertRule("favourite_flip", "probability_cross", threshold=0.5),
    AlertRule("sources_disagree", "divergence", spread=0.08),
    AlertRule("source_down", "source_down"),
)


@dataclass(slots=True, frozen=True)
class Alert:
    id: str
    rule: str
    kind: str
    raised_at: datetime
    message: str
    event_id: str | None = None
    market_id: str | None = None
    outcome_id: str | None = None
    source: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "kind": self.kind,
            "raised_at": self.raised_at,
            "message": self.message,
            "event_id": self.event_id,
            "market_id": self.market_id,
            "outcome_id": self.outcome_id,
            "source": self.source,
            "details": self.details,
        }


class AlertEngine:
    def __init__(
        self,
        rules: Iterable[AlertRule],
        raise_alert: Callable[[Alert], None],
        clock: Callable[[], float] = time.time,
    ):
        self.rules = tuple(rules)
        self.raise_alert = raise_alert
        self.clock = clock
        self._history: dict[tuple[str, str, str], deque[tuple[float, float]]] = {}
        self._probability: dict[tuple[str, str, str], float] = {}
        self._last: dict[tuple[str, str], float] = {}
        self._down: set[str] = set()
        self._window = max((r.seconds for r in self.rules if r.kind == "price_move"), default=0.0)

    def __call__(self, delta: Delta) -> None:
        """A book sink."""
        if delta.market_id is None or not delta.outcomes:
            return
        now = self.clock()
        for outcome in delta.outcomes:
            key = (delta.event_id, delta.market_id, outcome.id)
            odds = float(outcome.odds)
            probability = 1 / odds
            history = self._history.get(key)
            if history is None:
                history = self._history[key] = deque()
            while history and now - history[0][0] > self._window:
                history.popleft()
            previous = self._probability.get(key)
            for rule in self.rules:
                if rule.kind == "price_move":
                    self._price_move(rule, key, history, odds, now)
                elif rule.kind == "probability_cross" and previous is not None:
                    low, high = sorted((previous, probability))
                    if low < rule.threshold <= high and previous != probability:
                        direction = "above" if probability > previous else "below"
                        self._raise(
                            rule,
                            key,
                            now,
                            f"{delta.event_id} {delta.market_id} {outcome.id}: implied probability went {direction} "
                            f"{rule.threshold:.0%} ({previous:.1%} -> {probability:.1%})",
                            {"from": round(previous, 4), "to": round(probability, 4)},
                        )
                elif rule.kind == "divergence" and len(outcome.sources) > 1:
                    implied = [1 / float(p) for p in outcome.sources.values()]
                    spread = max(implied) - min(implied)
                    if spread > rule.spread:
                        self._raise(
                            rule,
                            key,
                            now,
                            f"{delta.event_id} {delta.market_id} {outcome.id}: sources disagree by {spread:.1%}",
                            {"spread": round(spread, 4), "sources": {s: float(p) for s, p in outcome.sources.items()}},
                        )
            history.append((now, odds))
            self._probability[key] = probability

    def _price_move(
        self, rule: AlertRule, key: tuple[str, str, str], history: deque[tuple[float, float]], odds: float, now: float
    ) -> None:
        for at, old in history:
            if now - at > rule.seconds:
                continue
            change = (odds - old) / old * 100
            if abs(change) > rule.percent:
                self._raise(
                    rule,
                    key,
                    now,
                    f"{key[0]} {key[1]} {key[2]}: odds moved {change:+.1f}% ({old:.2f} -> {odds:.2f}) "
                    f"within {now - at:.0f}s",
                    {"from": old, "to": odds, "percent": round(change, 2), "seconds": round(now - at, 1)},
                )
            return

    def sources(self, health: Iterable[SourceHealth]) -> None:
        """After each sweep: raise once for each source that went down."""
        now = self.clock()
        for source in health:
            if not source.up and source.name not in self._down:
                self._down.add(source.name)
                for rule in self.rules:
                    if rule.kind == "source_down":
                        self._emit(
                            rule,
                            now,
                            f"source {source.name} is down: silent for {now - source.last_seen:.0f}s",
                            source=source.name,
                            details={"last_seen": datetime.fromtimestamp(source.last_seen, UTC)},
                        )
            elif source.up:
                self._down.discard(source.name)

    def prune(self, alive: Container[str]) -> None:
        """Forget what was kept for events that have left the book."""
        for store in (self._history, self._probability):
            for key in [k for k in store if k[0] not in alive]:
                del store[key]

    def _raise(
        self, rule: AlertRule, key: tuple[str, str, str], now: float, message: str, details: dict[str, Any]
    ) -> None:
        # One alert per rule and outcome per cooldown: a market that keeps moving does not flood.
        marker = (rule.name, "/".join(key))
        if now - self._last.get(marker, -1e18) < rule.cooldown:
            return
        self._last[marker] = now
        self._emit(rule, now, message, event_id=key[0], market_id=key[1], outcome_id=key[2], details=details)

    def _emit(self, rule: AlertRule, now: float, message: str, **fields: Any) -> None:
        alert = Alert(uuid.uuid4().hex, rule.name, rule.kind, datetime.fromtimestamp(now, UTC), message, **fields)
        self.raise_alert(alert)
