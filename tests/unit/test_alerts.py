"""Alert rules over deltas and source health."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from feeds.alerts import Alert, AlertEngine, AlertRule
from feeds.book import SourceHealth
from schema.errors import InvalidRequest
from schema.model import Delta, Outcome

STAMP = datetime(2026, 3, 23, 20, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def delta(home: str, sources: dict[str, str] | None = None, seq: int = 1) -> Delta:
    quoted = {s: Decimal(p) for s, p in (sources or {"a": home}).items()}
    outcome = Outcome("home", "Home", Decimal(home), STAMP, len(quoted), 1.0, quoted, ())
    return Delta("e1", "american_football", seq, STAMP, "a", "quote", market_id="moneyline", outcomes=(outcome,))


def engine(*rules: AlertRule) -> tuple[AlertEngine, list[Alert], Clock]:
    raised: list[Alert] = []
    clock = Clock()
    return AlertEngine(rules, raised.append, clock), raised, clock


def test_a_sharp_move_within_the_window_raises_once_per_cooldown() -> None:
    watch, raised, clock = engine(AlertRule("sharp", "price_move", percent=10, seconds=60, cooldown=30))
    watch(delta("2.00"))
    clock.now += 20
    watch(delta("2.10"))  # +5%: nothing
    clock.now += 20
    watch(delta("2.30"))  # +15% within 40s
    clock.now += 5
    watch(delta("2.50"))  # still moving, but within the cooldown
    assert [(a.rule, a.details["percent"]) for a in raised] == [("sharp", 15.0)]
    assert raised[0].message.startswith("e1 moneyline home: odds moved +15.0%")
    clock.now += 120
    watch(delta("1.50"))  # the window has emptied: no base to compare
    assert len(raised) == 1


def test_a_probability_crossing_raises_in_either_direction() -> None:
    watch, raised, clock = engine(AlertRule("flip", "probability_cross", threshold=0.5, cooldown=0))
    watch(delta("2.10"))  # 47.6%
    watch(delta("1.90"))  # 52.6%: above
    clock.now += 1
    watch(delta("1.95"))  # still above: nothing
    watch(delta("2.20"))  # below
    assert [a.details for a in raised] == [{"from": 0.4762, "to": 0.5263}, {"from": 0.5128, "to": 0.4545}]
    assert "went above 50%" in raised[0].message


def test_sources_that_disagree_raise() -> None:
    watch, raised, _ = engine(AlertRule("disagree", "divergence", spread=0.08))
    watch(delta("2.00", {"a": "2.00", "b": "2.05"}))  # 1.2 points apart: nothing
    watch(delta("2.00", {"a": "1.70", "b": "2.20"}))  # 13.4 points apart
    assert [round(a.details["spread"], 3) for a in raised] == [0.134]


def test_a_source_going_down_raises_once_until_it_is_back() -> None:
    watch, raised, clock = engine(AlertRule("down", "source_down"))
    health = SourceHealth("swift", last_seen=clock.now - 90, up=False)
    watch.sources([health])
    watch.sources([health])
    health.up = True
    watch.sources([health])
    health.up = False
    watch.sources([health])
    assert [(a.kind, a.source) for a in raised] == [("source_down", "swift"), ("source_down", "swift")]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "weather"}, "kind"),
        ({"kind": "price_move", "percent": 0}, "percent"),
        ({"kind": "probability_cross", "threshold": 2}, "threshold"),
        ({"kind": "divergence", "spread": "wide"}, "numbers"),
    ],
)
def test_bad_rules_are_refused(body: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        AlertRule.of(body)
