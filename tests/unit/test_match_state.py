"""Match state: merging reports, the wire shape, each sport's incidents, the book, replicas and JSON."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from feeds.adapters import canonical
from feeds.adapters.base import FieldError, Rejection
from feeds.aliases import AliasBook
from feeds.book import OddsBook
from feeds.conflate import merge_deltas
from feeds.match_wire import MAX_INCIDENTS, parse_state
from feeds.normalize import Normalizer
from feeds.publish import encode_delta
from schema.errors import InvalidRequest
from schema.match import INCIDENTS, KEPT_INCIDENTS, Incident, MatchState, absorb_state, merge_state
from schema.model import Delta, EventStatus, MarketQuote, SourceQuote
from schema.parse import delta_from_json, event_from_json
from schema.render import delta_json, event_json
from tests.unit.test_book import EVENT, Clock, q

T0 = datetime(2026, 3, 23, 21, 0, tzinfo=UTC)


def incident(incident_id: str, kind: str = "touchdown", team: str | None = "home", at: datetime = T0) -> Incident:
    return Incident(incident_id, kind, team, "Q2", "07:12", None, at)


def board(
    *incidents: Incident,
    home: int = 7,
    away: int = 3,
    period: str | None = "Q2",
    clock: str | None = "07:12",
    at: datetime = T0,
) -> MatchState:
    return MatchState(home, away, period, clock, None, incidents, at)


def ids(state: MatchState) -> list[str]:
    return [i.id for i in state.incidents]


# -- merge_state / absorb_state --------------------------------------------------------------------


def test_the_first_report_is_the_state_and_the_change() -> None:
    report = board(incident("a"), incident("b"))
    assert merge_state(None, report) == (report, report)


def test_the_first_report_keeps_only_the_latest_incidents() -> None:
    report = board(*(incident(f"i{n}") for n in range(KEPT_INCIDENTS + 10)))
    moved = merge_state(None, report)
    assert moved is not None
    state, change = moved
    assert ids(state) == [f"i{n}" for n in range(10, KEPT_INCIDENTS + 10)]
    assert change == state


def test_a_newer_report_sets_the_board_and_publishes_only_new_incidents() -> None:
    current = board(incident("a"))
    later = T0 + timedelta(minutes=5)
    moved = merge_state(
        current, board(incident("a"), incident("b", at=later), home=14, period="Q3", clock="15:00", at=later)
    )
    assert moved is not None
    state, change = moved
    assert (state.home_score, state.away_score, state.period, state.clock, state.updated_at) == (
        14,
        3,
        "Q3",
        "15:00",
        later,
    )
    assert ids(state) == ["a", "b"]
    assert change.same_board(state)
    assert ids(change) == ["b"]


def test_a_newer_report_with_only_a_new_board_publishes_no_incidents() -> None:
    current = board(incident("a"))
    moved = merge_state(current, board(incident("a"), clock="06:40", at=T0 + timedelta(seconds=30)))
    assert moved is not None
    state, change = moved
    assert (state.clock, ids(state)) == ("06:40", ["a"])
    assert (change.clock, change.incidents) == ("06:40", ())


def test_an_older_report_adds_unseen_incidents_but_keeps_the_board() -> None:
    later = T0 + timedelta(minutes=5)
    current = board(incident("a"), home=14, period="Q3", clock="15:00", at=later)
    older = board(incident("a"), incident("b"), home=7, period="Q2", clock="01:00", at=T0)
    moved = merge_state(current, older)
    assert moved is not None
    state, change = moved
    assert state.same_board(current)
    assert state.updated_at == later
    assert ids(state) == ["a", "b"]
    assert change.same_board(current)
    assert ids(change) == ["b"]


def test_an_older_report_with_nothing_new_changes_nothing() -> None:
    later = T0 + timedelta(minutes=5)
    current = board(incident("a"), home=14, at=later)
    assert merge_state(current, board(incident("a"), home=7, at=T0)) is None


def test_a_repeated_report_changes_nothing() -> None:
    report = board(incident("a"), incident("b"))
    assert merge_state(report, report) is None
    # Resent later with the same board and incidents: still nothing to publish.
    assert merge_state(report, replace(report, updated_at=T0 + timedelta(seconds=10))) is None


def test_incidents_are_known_by_id_not_by_content() -> None:
    current = board(incident("a"))
    # The vendor corrected the team of incident "a": it is the same incident, not a new one.
    resent = board(incident("a", team="away"), at=T0 + timedelta(seconds=1))
    assert merge_state(current, resent) is None


def test_an_event_keeps_at_most_the_latest_incidents() -> None:
    current = board(*(incident(f"i{n}") for n in range(KEPT_INCIDENTS)))
    report = board(*current.incidents, *(incident(f"new{n}") for n in range(3)), at=T0 + timedelta(seconds=1))
    moved = merge_state(current, report)
    assert moved is not None
    state, change = moved
    assert len(state.incidents) == KEPT_INCIDENTS
    assert ids(state)[:2] == ["i3", "i4"]
    assert ids(state)[-3:] == ["new0", "new1", "new2"]
    assert ids(change) == ["new0", "new1", "new2"]


def test_resending_more_incidents_than_are_kept_changes_nothing() -> None:
    report = board(*(incident(f"i{n}") for n in range(KEPT_INCIDENTS + 10)))
    moved = merge_state(None, report)
    assert moved is not None
    assert len(moved[0].incidents) == KEPT_INCIDENTS
    # The book passes every id it has seen, kept or not.
    assert merge_state(moved[0], report, seen=[i.id for i in report.incidents]) is None


def test_an_incident_listed_twice_in_one_report_is_kept_once() -> None:
    moved = merge_state(None, board(incident("a"), incident("a")))
    assert moved is not None
    assert ids(moved[0]) == ["a"]


def test_absorb_state_appends_the_published_incidents() -> None:
    assert absorb_state(None, board(incident("a"))) == board(incident("a"))
    change = board(incident("b"), home=14, clock="03:00", at=T0 + timedelta(minutes=1))
    absorbed = absorb_state(board(incident("a")), change)
    assert absorbed.same_board(change)
    assert absorbed.updated_at == change.updated_at
    assert ids(absorbed) == ["a", "b"]
    full = board(*(incident(f"i{n}") for n in range(KEPT_INCIDENTS)))
    assert ids(absorb_state(full, change))[-2:] == [f"i{KEPT_INCIDENTS - 1}", "b"]
    assert len(absorb_state(full, change).incidents) == KEPT_INCIDENTS


# -- the wire shape --------------------------------------------------------------------------------


WIRE: dict[str, Any] = {
    "score": {"home": 1, "away": 0},
    "period": "2H",
    "clock": "62:14",
    "detail": "Chelsea down to ten men",
    "incidents": [
        {"id": "rc-1", "type": "red_card", "team": "away", "period": "2H", "clock": "62:00", "player": "R. James"},
        {"type": "Goal", "team": "home", "period": "1H", "clock": "23:10", "player": "B. Saka"},
    ],
}


def test_parse_state_reads_the_wire_shape() -> None:
    assert parse_state(None, T0) is None
    state = parse_state(WIRE, T0)
    assert state is not None
    assert (state.home_score, state.away_score, state.period, state.clock, state.detail, state.updated_at) == (
        1,
        0,
        "2H",
        "62:14",
        "Chelsea down to ten men",
        T0,
    )
    red, goal = state.incidents
    assert red == Incident("rc-1", "red_card", "away", "2H", "62:00", "R. James", T0)
    assert (goal.type, goal.team, goal.period, goal.clock, goal.player, goal.at) == (
        "goal",
        "home",
        "1H",
        "23:10",
        "B. Saka",
        T0,
    )
    assert goal.id  # derived from the content


def test_parse_state_defaults_and_numeric_labels() -> None:
    state = parse_state({"period": 2, "incidents": [{"type": "kickoff"}]}, T0)
    assert state is not None
    assert (state.home_score, state.away_score, state.period, state.clock) == (0, 0, "2", None)
    assert state.incidents[0].team is None


def test_derived_incident_ids_are_stable_across_resends() -> None:
    first = parse_state(WIRE, T0)
    again = parse_state(WIRE, T0 + timedelta(minutes=3))
    assert first is not None
    assert again is not None
    assert ids(first) == ids(again)
    assert first.incidents[0].id == "rc-1"
    other = parse_state({"incidents": [{**WIRE["incidents"][1], "clock": "23:11"}]}, T0)
    assert other is not None
    assert other.incidents[0].id != first.incidents[1].id
    # A resend of the same report merges to nothing.
    assert merge_state(first, again) is None


def test_derived_ids_do_not_depend_on_the_case_of_the_type() -> None:
    upper = parse_state({"incidents": [{"type": "Goal", "team": "home", "clock": "23:10"}]}, T0)
    lower = parse_state({"incidents": [{"type": "goal", "team": "home", "clock": "23:10"}]}, T0)
    assert upper is not None
    assert lower is not None
    assert ids(upper) == ids(lower)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1-0", "'state' must be an object"),
        ({"score": [1, 0]}, "'state.score' must be an object"),
        ({"score": {"home": -1, "away": 0}}, "'state.score.home' must be a whole number"),
        ({"score": {"home": True, "away": 0}}, "'state.score.home' must be a whole number"),
        ({"score": {"home": 1, "away": "0"}}, "'state.score.away' must be a whole number"),
        ({"score": {"home": 1, "away": 1.5}}, "'state.score.away' must be a whole number"),
        ({"score": {"home": 1}}, "'state.score.away' must be a whole number"),
        ({"period": "x" * 41}, "'state.period' must be text"),
        ({"clock": "  "}, "'state.clock' must be text"),
        ({"incidents": {"type": "goal"}}, "'state.incidents' must be a list"),
        ({"incidents": ["goal"]}, "'state.incidents[0]' must be an object"),
        ({"incidents": [{"team": "home"}]}, "'state.incidents[0].type' is required"),
        ({"incidents": [{"type": "goal"}, {"type": ""}]}, "'state.incidents[1].type' must be text"),
        ({"incidents": [{"type": "goal", "team": "visitors"}]}, "'state.incidents[0].team' must be 'home' or 'away'"),
        ({"incidents": [{"type": "goal", "team": 1}]}, "'state.incidents[0].team' must be 'home' or 'away'"),
        ({"incidents": [{"type": "goal", "player": "p" * 101}]}, "'state.incidents[0].player' must be text"),
        ({"incidents": [{"type": "goal"}] * (MAX_INCIDENTS + 1)}, f"at most {MAX_INCIDENTS} incidents"),
    ],
)
def test_malformed_state_names_the_field(value: object, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_state(value, T0)
    assert message in str(caught.value)


def test_the_canonical_adapter_rejects_only_the_update_with_a_bad_state() -> None:
    good = {
        "sport": "football",
        "league": "Premier League",
        "home_team": "Arsenal",
        "away_team": "Chelsea",
        "start_time": "2026-03-23T20:00:00Z",
        "market": "moneyline",
        "outcomes": [{"id": "home", "odds": 1.9}, {"id": "away", "odds": 4.2}],
        "timestamp": "2026-03-23T21:00:00Z",
        "state": WIRE,
    }
    bad = {**good, "state": {"score": {"home": -2, "away": 0}}}
    first, second = canonical.ADAPTER.parse(orjson.dumps({"source": "v", "updates": [good, bad]}))
    assert isinstance(first, SourceQuote)
    assert first.state == parse_state(WIRE, T0)
    assert isinstance(second, Rejection)
    assert (second.index, second.path, second.code) == (1, "updates[1]", "INVALID_REQUEST")
    assert "state.score.home" in second.reason


# -- each sport's incidents ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer(AliasBook.load())


def football_quote(state: MatchState | None, market: str | None = "moneyline") -> SourceQuote:
    prices = (("home", Decimal("1.90")), ("away", Decimal("4.20"))) if market else ()
    return SourceQuote(
        "v", "soccer", "Premier League", "Arsenal", "Chelsea", T0, "live", market, None, prices, False, T0, state
    )


@pytest.mark.parametrize("market", ["moneyline", None])
def test_a_football_red_card_is_known(normalizer: Normalizer, market: str | None) -> None:
    state = board(incident("rc", "red_card", "away"))
    result = normalizer.normalize(football_quote(state, market))
    assert result.event.sport == "football"
    assert result.state == state


def test_a_touchdown_in_football_is_refused_naming_the_known_incidents(normalizer: Normalizer) -> None:
    state = board(incident("rc", "red_card"), incident("td", "touchdown"))
    with pytest.raises(InvalidRequest) as caught:
        normalizer.normalize(football_quote(state))
    assert caught.value.code == "INVALID_REQUEST"
    message = caught.value.message
    assert "unknown football incident 'touchdown'" in message
    assert f"known: {', '.join(sorted(INCIDENTS['football']))}" in message


def test_the_vocabulary_is_per_sport(normalizer: Normalizer) -> None:
    nfl = SourceQuote(
        "v", "NFL", "NFL", "49ers", "Ravens", T0, "live", None, None, (), False, T0, board(incident("td", "touchdown"))
    )
    assert normalizer.normalize(nfl).state is not None
    with pytest.raises(InvalidRequest, match="unknown american_football incident 'red_card'"):
        normalizer.normalize(replace(nfl, state=board(incident("rc", "red_card"))))


# -- the book --------------------------------------------------------------------------------------


def quoted(clock: Clock, state: MatchState | None, home: str = "1.85", away: str = "2.10") -> MarketQuote:
    return replace(q(clock, home=home, away=away, status=EventStatus.LIVE), state=state)


def stamped(now: Clock, *incidents: Incident, **fields: Any) -> MatchState:
    return board(*incidents, at=now.stamp(), **fields)


def test_the_book_publishes_the_state_before_the_prices_it_moves() -> None:
    clock = Clock()
    sink: list[Delta] = []
    book = OddsBook(clock=clock, sinks=[sink.append])
    first = stamped(clock, incident("a"))
    state_delta, market_delta = book.apply(quoted(clock, first))
    assert sink == [state_delta, market_delta]
    assert (state_delta.reason, state_delta.market_id, state_delta.seq) == ("state", None, 1)
    assert state_delta.state == first
    assert state_delta.event == EVENT  # the event's first delta describes it
    assert (market_delta.reason, market_delta.market_id, market_delta.seq) == ("quote", "moneyline", 2)
    assert market_delta.state is None

    clock.now += 30
    second = stamped(clock, incident("a"), incident("b", "field_goal"), home=10)
    state_delta, market_delta = book.apply(quoted(clock, second, "1.60", "2.40"))
    assert state_delta.reason == "state"
    assert state_delta.state is not None
    assert (state_delta.state.home_score, ids(state_delta.state)) == (10, ["b"])
    assert state_delta.event is None
    assert market_delta.market_id == "moneyline"
    assert state_delta.seq + 1 == market_delta.seq

    clock.now += 30
    # The same report again (and the same prices): nothing to publish.
    assert book.apply(quoted(clock, replace(second, updated_at=clock.stamp()), "1.60", "2.40")) == []
    snapshot = book.event(EVENT.id)
    assert snapshot is not None
    assert snapshot.state is not None
    assert ids(snapshot.state) == ["a", "b"]
    assert snapshot.state.home_score == 10
    assert snapshot.seq == 4


def test_a_state_only_report_is_one_state_delta() -> None:
    clock = Clock()
    book = OddsBook(clock=clock)
    book.apply(quoted(clock, None))
    clock.now += 5
    report = stamped(clock, incident("a"))
    only_state = MarketQuote("a", EVENT, None, None, None, None, (), False, clock.stamp(), report)
    [delta] = book.apply(only_state)
    assert (delta.reason, delta.market_id, delta.state) == ("state", None, report)
    clock.now += 5
    assert book.apply(only_state) == []


def test_the_book_never_republishes_incidents_it_no_longer_keeps() -> None:
    clock = Clock()
    book = OddsBook(clock=clock)
    long_list = [incident(f"i{n}") for n in range(KEPT_INCIDENTS + 20)]
    first = book.apply(quoted(clock, stamped(clock, *long_list)))
    assert first[0].state is not None
    assert len(first[0].state.incidents) == KEPT_INCIDENTS
    clock.now += 10
    # The vendor resends its whole list: nothing is new, however many the event dropped.
    assert book.apply(quoted(clock, stamped(clock, *long_list))) == []
    clock.now += 10
    [change, _] = book.apply(quoted(clock, stamped(clock, *long_list, incident("late")), "1.70", "2.30"))
    assert change.state is not None
    assert ids(change.state) == ["late"]


def played(clock: Clock) -> tuple[OddsBook, list[Delta]]:
    deltas: list[Delta] = []
    book = OddsBook(clock=clock, sinks=[deltas.append])
    book.apply(quoted(clock, stamped(clock, incident("a"))))
    clock.now += 30
    book.apply(quoted(clock, stamped(clock, incident("a"), incident("b"), home=10), "1.70", "2.30"))
    clock.now += 30
    book.apply(quoted(clock, stamped(clock, incident("a"), incident("b"), home=10, clock="00:30"), "1.65", "2.35"))
    return book, deltas


def test_a_replica_absorbs_the_state() -> None:
    clock = Clock()
    book, deltas = played(clock)
    assert [d.reason for d in deltas] == ["state", "quote", "state", "quote", "state", "quote"]
    for through_json in (False, True):
        replica = OddsBook(clock=clock)
        for delta in deltas:
            assert replica.absorb(delta_from_json(orjson.loads(encode_delta(delta))) if through_json else delta)
        expected, got = book.event(EVENT.id), replica.event(EVENT.id)
        assert expected is not None
        assert got is not None
        assert got.state == expected.state
        assert got.state is not None
        assert (ids(got.state), got.state.clock) == (["a", "b"], "00:30")


def test_a_restored_book_keeps_the_state_and_goes_on_from_it() -> None:
    clock = Clock()
    book, _ = played(clock)
    snapshot = book.event(EVENT.id)
    assert snapshot is not None
    restored = OddsBook(clock=clock)
    assert restored.restore(snapshot)
    assert restored.events[EVENT.id].state == snapshot.state
    assert restored.event(EVENT.id) == snapshot
    clock.now += 30
    # The restored book knows "a" and "b": a resend with "c" publishes only "c".
    report = stamped(clock, incident("a"), incident("b"), incident("c"), home=10, clock="00:10")
    [delta] = restored.apply(quoted(clock, report, "1.65", "2.35"))
    assert delta.state is not None
    assert ids(delta.state) == ["c"]
    assert delta.seq == snapshot.seq + 1


def test_merged_deltas_keep_the_incidents_of_both() -> None:
    clock = Clock()
    _, deltas = played(clock)
    older, newer = deltas[0], deltas[2]
    merged = merge_deltas(older, newer)
    assert merged.state is not None
    assert newer.state is not None
    assert merged.state.same_board(newer.state)
    assert ids(merged.state) == ["a", "b"]
    assert merged.event == EVENT
    assert merge_deltas(older, deltas[1]).state == older.state
    assert merge_deltas(deltas[1], newer).state == newer.state


# -- JSON ------------------------------------------------------------------------------------------


def test_deltas_and_events_round_trip_with_their_state() -> None:
    clock = Clock()
    book, deltas = played(clock)
    for delta in deltas:
        assert delta_from_json(orjson.loads(encode_delta(delta))) == delta
        assert delta_from_json(orjson.loads(orjson.dumps(delta_json(delta)))) == delta
    assert "state" not in delta_json(deltas[1])
    assert delta_json(deltas[0])["state"]["incidents"][0]["id"] == "a"
    event = book.event(EVENT.id)
    assert event is not None
    body = event_json(event)
    assert body["state"]["score"] == {"home": 10, "away": 3}
    back = event_from_json(orjson.loads(orjson.dumps(body)))
    assert back.state == event.state
    assert event_json(back) == body
    stateless = replace(event, state=None)
    assert event_json(stateless)["state"] is None
    assert event_from_json(orjson.loads(orjson.dumps(event_json(stateless)))).state is None
