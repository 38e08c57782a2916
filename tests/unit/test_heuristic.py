"""The heuristic insight's numbers and words, against ones worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from insights.context import InsightContext, NoWinnerMarket, build_context
from insights.heuristic import heuristic_insight, percent
from insights.sports import PROFILES, profile
from schema.errors import NotFound
from schema.match import INCIDENTS, Incident, MatchState
from schema.model import Event, EventInfo, EventStatus, Market, MarketType, Outcome

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
INFO = EventInfo("arsenal-chelsea-2026-11-23", "football", "Premier League", "Arsenal", "Chelsea", NOW)


def three_way(home: str, draw: str, away: str, suspended: bool = False) -> Market:
    def outcome(outcome_id: str, odds: str) -> Outcome:
        return Outcome(outcome_id, outcome_id, Decimal(odds), NOW, 2, 0.9, {}, ())

    prices = (outcome("home", home), outcome("draw", draw), outcome("away", away))
    return Market("1x2", MarketType.THREE_WAY, None, suspended, None, prices)


RED_CARD = Incident("rc1", "red_card", "home", "2H", "61:40", "B. White", NOW - timedelta(seconds=120))
STATE = MatchState(0, 0, "2H", "62:10", None, (RED_CARD,), NOW - timedelta(seconds=5))
BEFORE = ("2.30", "3.20", "3.40")
AFTER = ("3.80", "3.10", "2.05")


def history(at: datetime, odds: tuple[str, str, str]) -> list[tuple[datetime, str, Decimal]]:
    return [(at, outcome, Decimal(price)) for outcome, price in zip(("home", "draw", "away"), odds, strict=True)]


def red_card_context() -> InsightContext:
    event = Event(INFO, EventStatus.LIVE, 42, NOW, (three_way(*AFTER),), STATE)
    # The window opens 300 s ago at BEFORE's prices; the card is shown 120 s ago and the market
    # reprices 90 s later, 30 s ago.
    prices = history(NOW - timedelta(seconds=400), BEFORE) + history(NOW - timedelta(seconds=30), AFTER)
    return build_context(event, prices, 300, NOW)


def test_a_red_card_and_the_drift_it_caused() -> None:
    insight = heuristic_insight(red_card_context())
    # Margin removed: implied 1/2.30 + 1/3.20 + 1/3.40 = 0.434783 + 0.3125 + 0.294118 = 1.041400,
    # so home 0.434783 / 1.041400 = 0.4175 (42 %), draw 0.3001, away 0.2824.
    # After: 1/3.80 + 1/3.10 + 1/2.05 = 0.263158 + 0.322581 + 0.487805 = 1.073543,
    # so home 0.2451 (25 %: 24.513 rounds up), draw 0.3005, away 0.4544 (45 %).
    assert insight.summary == (
        "Odds drift triggered by red card to Arsenal in the 62nd minute. Implied win probability of "
        "Arsenal dropped from 42% to 25% within a 90-second window."
    )
    assert insight.win_probability.model_dump() == {"home": 0.2451, "away": 0.4544, "draw": 0.3005}
    shift = insight.probability_shift
    assert shift is not None
    assert (shift.window_seconds, shift.start.home, shift.start.draw, shift.start.away) == (300, 0.4175, 0.3001, 0.2824)
    # Changes: home 0.2451 - 0.4175 = -0.1724, draw +0.0004, away +0.1720.
    assert shift.change == {"home": -0.1724, "draw": 0.0004, "away": 0.172}
    # Home lost 0.1724 while away gained 0.1720: the market leans 0.344 to the away side.
    assert insight.momentum == "away"
    assert [(k.type, k.team, k.description) for k in insight.key_events] == [
        ("red_card", "home", "Red card to Arsenal in the 62nd minute")
    ]
    assert insight.predictive_notes == [
        "Score: Arsenal 0-0 Chelsea (2H 62:10).",
        "Arsenal are down to 10 players.",
        "The market makes Chelsea the most likely result at 45%.",
    ]
    assert (insight.generator, insight.model_probability, insight.fallback_reason) == ("heuristic", None, None)
    assert (insight.odds_seq, insight.created_at) == (42, NOW)


def test_a_quiet_market_says_who_is_favourite() -> None:
    event = Event(INFO, EventStatus.LIVE, 7, NOW, (three_way(*BEFORE),))
    insight = heuristic_insight(build_context(event, history(NOW - timedelta(seconds=400), BEFORE), 300, NOW))
    assert insight.summary == "Prices steady over the last 300 seconds: Arsenal favourite at 42%."
    assert (
        insight.momentum,
        insight.key_events,
        insight.probability_shift.change if insight.probability_shift else None,
    ) == (
        "neutral",
        [],
        {"home": 0.0, "draw": 0.0, "away": 0.0},
    )


def test_a_move_without_an_incident() -> None:
    event = Event(INFO, EventStatus.LIVE, 9, NOW, (three_way(*AFTER),))
    insight = heuristic_insight(build_context(event, history(NOW - timedelta(seconds=400), BEFORE), 300, NOW))
    # The largest move: home from 0.4175 to 0.2451.
    assert insight.summary == (
        "Prices moved without a reported incident: implied win probability of Arsenal dropped from 42% "
        "to 25% over the last 300 seconds."
    )


def test_a_fallback_is_labelled() -> None:
    insight = heuristic_insight(red_card_context(), "timeout: no answer within 10s")
    assert (insight.generator, insight.fallback_reason) == ("heuristic", "timeout: no answer within 10s")


def test_an_event_without_an_open_winner_market_has_no_insight() -> None:
    event = Event(INFO, EventStatus.LIVE, 1, NOW, (three_way(*BEFORE, suspended=True),))
    with pytest.raises(NoWinnerMarket):
        build_context(event, [], 300, NOW)
    with pytest.raises(NotFound, match="insights cover"):
        profile("curling")


def test_every_sport_with_incidents_has_a_profile_describing_them() -> None:
    assert set(PROFILES) == set(INCIDENTS)
    for sport, known in INCIDENTS.items():
        assert set(PROFILES[sport].significance) <= known, sport
        assert set(PROFILES[sport].phrases) <= known, sport
    assert PROFILES["football"].draw
    assert not PROFILES["tennis"].draw


@pytest.mark.parametrize(
    ("sport", "clock", "period", "moment"),
    [
        ("football", "61:40", "2H", "in the 62nd minute"),
        ("football", "90", "2H", "in the 90th minute"),
        ("american_football", "07:31", "Q3", "in Q3 07:31"),
        ("tennis", None, "set 2", "in set 2"),
        ("baseball", None, "top 7th", "in top 7th"),
    ],
)
def test_each_sport_says_when(sport: str, clock: str | None, period: str, moment: str) -> None:
    incident = Incident("x", "injury", "away", period, clock, None, NOW)
    assert PROFILES[sport].moment(incident) == moment


def test_percentages_round_half_up() -> None:
    assert (percent(0.245), percent(0.2449), percent(0.125)) == ("25%", "24%", "13%")


def test_a_move_the_incident_does_not_explain_is_not_put_down_to_it() -> None:
    goal = Incident("g1", "goal", "home", "2H", "61:40", None, NOW - timedelta(seconds=120))
    event = Event(INFO, EventStatus.LIVE, 42, NOW, (three_way(*AFTER),), replace(STATE, incidents=(goal,)))
    prices = history(NOW - timedelta(seconds=400), BEFORE) + history(NOW - timedelta(seconds=30), AFTER)
    insight = heuristic_insight(build_context(event, prices, 300, NOW))
    # A goal for Arsenal cannot explain Arsenal falling from 42% to 25%.
    assert insight.summary == (
        "Prices moved beyond what the incidents explain: implied win probability of Arsenal dropped from 42% "
        "to 25% over the last 300 seconds."
    )


def test_an_incident_the_market_shrugged_off() -> None:
    event = Event(INFO, EventStatus.LIVE, 42, NOW, (three_way("2.32", "3.20", "3.38"),), STATE)
    prices = history(NOW - timedelta(seconds=400), BEFORE) + history(
        NOW - timedelta(seconds=30), ("2.32", "3.20", "3.38")
    )
    insight = heuristic_insight(build_context(event, prices, 300, NOW))
    # Home: 1/2.32 / (1/2.32 + 1/3.20 + 1/3.38) = 0.431034 / 1.039912 = 0.4145 (41 %), from 42 %.
    assert insight.summary == (
        "Prices held after red card to Arsenal in the 62nd minute: implied win probability of Arsenal went "
        "from 42% to 41% in the 90 seconds since."
    )
