"""Vendor adapters: each wire format read into source quotes, and every kind of bad item rejected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from feeds.adapters import american_json, canonical, decimal_json, delta_stream, legacy_csv
from feeds.adapters.base import Parsed, Rejection
from schema.errors import InvalidRequest
from schema.model import SourceQuote
from schema.odds import decimal_to_american

KICKOFF = datetime(2026, 3, 23, 20, 20, tzinfo=UTC)
UPDATED = datetime(2026, 3, 23, 14, 30, 27, tzinfo=UTC)


def quote(item: Parsed) -> SourceQuote:
    assert isinstance(item, SourceQuote), item
    return item


def rejection(item: Parsed) -> Rejection:
    assert isinstance(item, Rejection), item
    return item


def kinds(items: Iterable[Parsed]) -> list[str]:
    return ["quote" if isinstance(item, SourceQuote) else "rejection" for item in items]


# --- canonical ---------------------------------------------------------------------------------


def canonical_update(**overrides: Any) -> dict[str, Any]:
    update: dict[str, Any] = {
        "sport": "american_football",
        "league": "NFL",
        "home_team": "San Francisco 49ers",
        "away_team": "Baltimore Ravens",
        "start_time": "2026-03-23T20:20:00Z",
        "status": "live",
        "market": "spread",
        "line": -3.5,
        "outcomes": [{"id": "home", "odds": 1.91}, {"id": "away", "odds": "1.95"}],
        "timestamp": "2026-03-23T14:30:27Z",
    }
    update.update(overrides)
    return update


def parse_canonical(body: object, source: str | None = None) -> list[Parsed]:
    return list(canonical.ADAPTER.parse(orjson.dumps(body), source))


def test_canonical_maps_every_field() -> None:
    [item] = parse_canonical({"source": " pinnacle ", "updates": [canonical_update()]})

    assert quote(item) == SourceQuote(
        source="pinnacle",
        sport="american_football",
        league="NFL",
        home_team="San Francisco 49ers",
        away_team="Baltimore Ravens",
        start_time=KICKOFF,
        status="live",
        market="spread",
        line=Decimal("-3.5"),
        prices=(("home", Decimal("1.91")), ("away", Decimal("1.95"))),
        suspended=False,
        timestamp=UPDATED,
    )


def test_canonical_suspended_outcome_and_market() -> None:
    outcomes = [{"id": "home", "odds": None, "suspended": True}, {"id": "away", "odds": 2.0}]
    items = parse_canonical(
        {
            "source": "s",
            "updates": [
                canonical_update(outcomes=outcomes),
                canonical_update(outcomes=[], suspended=True),
            ],
        }
    )

    assert quote(items[0]).prices == (("home", None), ("away", Decimal("2.0")))
    assert quote(items[1]).suspended is True
    assert quote(items[1]).prices == ()


def test_canonical_status_only_update() -> None:
    update = canonical_update(status="finished")
    for key in ("market", "line", "outcomes"):
        del update[key]

    [item] = parse_canonical({"source": "s", "updates": [update]})

    assert quote(item).market is None
    assert quote(item).line is None
    assert quote(item).prices == ()
    assert quote(item).status == "finished"


def test_canonical_source_argument_applies_only_without_source_field() -> None:
    body = {"updates": [canonical_update()]}
    assert quote(parse_canonical(body, "fallback")[0]).source == "fallback"
    assert quote(parse_canonical({**body, "source": "named"}, "fallback")[0]).source == "named"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "body must be an object"),
        (b'{"updates": []}', "'source' must be a non-empty string"),
        (b'{"source": "s"}', "'updates' must be a list"),
        (b'{"source": "s", "updates": {}}', "'updates' must be a list"),
    ],
)
def test_canonical_unreadable_payload(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        list(canonical.ADAPTER.parse(payload))


@pytest.mark.parametrize(
    ("update", "code", "reason"),
    [
        (
            canonical_update(outcomes=[{"id": "home", "odds": 1.0}]),
            "INVALID_ODDS",
            "outcomes[0] (home): decimal odds must be greater than 1.0, got 1.0",
        ),
        (
            canonical_update(outcomes=[{"id": "home", "odds": "abc"}]),
            "INVALID_ODDS",
            "outcomes[0] (home): odds 'abc' is not a number",
        ),
        (
            canonical_update(outcomes=[{"id": "home", "odds": "NaN"}]),
            "INVALID_ODDS",
            "outcomes[0] (home): odds must be finite, got NaN",
        ),
        (
            canonical_update(outcomes=[{"id": "home", "odds": None}]),
            "INVALID_ODDS",
            "outcomes[0] (home): odds must be a number, got None",
        ),
        (
            canonical_update(outcomes=[]),
            "INVALID_REQUEST",
            "'outcomes' must not be empty unless the market is suspended",
        ),
        (canonical_update(outcomes=[{"odds": 2}]), "INVALID_REQUEST", "outcomes[0].id is required"),
        (canonical_update(home_team=None), "INVALID_REQUEST", "'home_team' is required"),
        (canonical_update(sport=7), "INVALID_REQUEST", "'sport' must be a string, got int"),
        (canonical_update(start_time="soon"), "INVALID_REQUEST", "'start_time' 'soon' is not an ISO 8601 time"),
        (canonical_update(line="3.3"), "INVALID_REQUEST", "'line' '3.3' is not a multiple of 0.25"),
        (canonical_update(suspended="no"), "INVALID_REQUEST", "'suspended' must be true or false"),
        ("update", "INVALID_REQUEST", "update must be an object, got str"),
    ],
)
def test_canonical_bad_update_between_good_ones(update: object, code: str, reason: str) -> None:
    items = parse_canonical({"source": "s", "updates": [canonical_update(), update, canonical_update()]})

    assert kinds(items) == ["quote", "rejection", "quote"]
    bad = rejection(items[1])
    assert (bad.index, bad.code, bad.reason) == (1, code, reason)


# --- decimal_json ------------------------------------------------------------------------------


def decimal_market(name: str | None = "Match Winner", **overrides: Any) -> dict[str, Any]:
    market: dict[str, Any] = {
        "name": name,
        "handicap": None,
        "suspended": False,
        "selections": [{"name": "49ers", "price": "1.85"}, {"name": "Ravens", "price": "2.10"}],
    }
    market.update(overrides)
    return market


def decimal_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "bp-991",
        "sport": "American Football",
        "competition": "NFL",
        "name": "49ers vs Ravens",
        "kickoff": "2026-03-23T20:20:00Z",
        "state": "inplay",
        "updated": "2026-03-23T14:30:27Z",
        "markets": [decimal_market()],
    }
    event.update(overrides)
    return event


def parse_decimal(events: list[Any], source: str | None = None, bookmaker: str | None = "betpoint") -> list[Parsed]:
    body: dict[str, Any] = {"events": events}
    if bookmaker is not None:
        body["bookmaker"] = bookmaker
    return list(decimal_json.ADAPTER.parse(orjson.dumps(body), source))


DECIMAL_EXAMPLE = b"""{"bookmaker": "betpoint", "events": [
  {"id": "bp-991", "sport": "American Football", "competition": "NFL", "name": "49ers vs Ravens",
   "kickoff": "2026-03-23T20:20:00Z", "state": "inplay", "updated": "2026-03-23T14:30:27Z",
   "markets": [
     {"name": "Match Winner", "handicap": null, "suspended": false,
      "selections": [{"name": "49ers", "price": "1.85"}, {"name": "Ravens", "price": "2.10"}]},
     {"name": "Handicap", "handicap": "-3.5",
      "selections": [{"name": "49ers", "price": "1.91"}, {"name": "Ravens", "price": "1.91"}]},
     {"name": "Total Points", "handicap": "47.5",
      "selections": [{"name": "Over", "price": "1.90"}, {"name": "Under", "price": "1.92"}]}]}]}"""


def test_decimal_json_maps_every_field() -> None:
    items = list(decimal_json.ADAPTER.parse(DECIMAL_EXAMPLE))

    event = SourceQuote(
        source="betpoint",
        sport="American Football",
        league="NFL",
        home_team="49ers",
        away_team="Ravens",
        start_time=KICKOFF,
        status="inplay",
        market=None,
        line=None,
        prices=(),
        suspended=False,
        timestamp=UPDATED,
    )
    assert [quote(item) for item in items] == [
        replace(event, market="Match Winner", prices=(("49ers", Decimal("1.85")), ("Ravens", Decimal("2.10")))),
        replace(
            event,
            market="Handicap",
            line=Decimal("-3.5"),
            prices=(("49ers", Decimal("1.91")), ("Ravens", Decimal("1.91"))),
        ),
        replace(
            event,
            market="Total Points",
            line=Decimal("47.5"),
            prices=(("Over", Decimal("1.90")), ("Under", Decimal("1.92"))),
        ),
    ]


def test_decimal_json_suspended_selections_and_market() -> None:
    selections = [
        {"name": "49ers", "price": "SUSP"},
        {"name": "Ravens", "price": None},
        {"name": "Draw", "price": "susp"},
    ]
    items = parse_decimal(
        [
            decimal_event(
                markets=[
                    decimal_market(selections=selections),
                    decimal_market(suspended=True),
                    decimal_market(suspended=True, selections=[]),
                ]
            )
        ]
    )

    assert quote(items[0]).prices == (("49ers", None), ("Ravens", None), ("Draw", None))
    assert quote(items[0]).suspended is False
    assert quote(items[1]).suspended is True
    assert quote(items[1]).prices == (("49ers", Decimal("1.85")), ("Ravens", Decimal("2.10")))
    assert quote(items[2]).suspended is True
    assert quote(items[2]).prices == ()


@pytest.mark.parametrize("markets", [[], None])
def test_decimal_json_event_without_markets_is_status_only(markets: list[Any] | None) -> None:
    event = decimal_event(markets=markets, state="ended")
    if markets is None:
        del event["markets"]

    [item] = parse_decimal([event])

    assert quote(item).market is None
    assert quote(item).line is None
    assert quote(item).prices == ()
    assert quote(item).status == "ended"
    assert quote(item).home_team == "49ers"


@pytest.mark.parametrize(
    ("name", "home", "away"),
    [
        ("49ers vs Ravens", "49ers", "Ravens"),
        ("Arsenal v Chelsea", "Arsenal", "Chelsea"),
        ("Nadal - Federer", "Nadal", "Federer"),
        ("Paris Saint-Germain vs Lyon", "Paris Saint-Germain", "Lyon"),
    ],
)
def test_decimal_json_event_names_split_home_first(name: str, home: str, away: str) -> None:
    [item] = parse_decimal([decimal_event(name=name)])

    assert (quote(item).home_team, quote(item).away_team) == (home, away)


def test_decimal_json_optional_event_fields() -> None:
    event = decimal_event()
    del event["competition"], event["state"], event["id"]

    [item] = parse_decimal([event])

    assert quote(item).league is None
    assert quote(item).status is None


def test_decimal_json_source_argument_only_without_bookmaker() -> None:
    assert quote(parse_decimal([decimal_event()], "arg")[0]).source == "betpoint"
    assert quote(parse_decimal([decimal_event()], "arg", bookmaker=None)[0]).source == "arg"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'"events"', "body must be an object"),
        (b'{"bookmaker": "b", "events": {}}', "'events' must be a list"),
        (b'{"bookmaker": "b"}', "'events' must be a list"),
        (b'{"events": []}', "'bookmaker' must be a non-empty string"),
        (b'{"bookmaker": 3, "events": []}', "'bookmaker' must be a non-empty string"),
        (b'{"bookmaker": " ", "events": []}', "'bookmaker' must be a non-empty string"),
    ],
)
def test_decimal_json_unreadable_payload(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        decimal_json.ADAPTER.parse(payload)


@pytest.mark.parametrize(
    ("market", "code", "reason"),
    [
        (
            decimal_market(selections=[{"name": "49ers", "price": "abc"}]),
            "INVALID_ODDS",
            "selections[0] (49ers): odds 'abc' is not a number",
        ),
        (
            decimal_market(selections=[{"name": "49ers", "price": "1.85"}, {"name": "Ravens", "price": "1.00"}]),
            "INVALID_ODDS",
            "selections[1] (Ravens): decimal odds must be greater than 1.0, got 1.00",
        ),
        (
            decimal_market(selections=[{"name": "49ers", "price": "0.5"}]),
            "INVALID_ODDS",
            "selections[0] (49ers): decimal odds must be greater than 1.0, got 0.5",
        ),
        (
            decimal_market(selections=[{"name": "49ers", "price": "NaN"}]),
            "INVALID_ODDS",
            "selections[0] (49ers): odds must be finite, got NaN",
        ),
        (
            decimal_market(selections=[{"name": "49ers", "price": "Infinity"}]),
            "INVALID_ODDS",
            "selections[0] (49ers): odds must be finite, got Infinity",
        ),
        (
            decimal_market(selections=[{"name": "49ers", "price": True}]),
            "INVALID_ODDS",
            "selections[0] (49ers): odds must be a number, got True",
        ),
        (
            decimal_market(selections=[{"name": "49ers"}]),
            "INVALID_REQUEST",
            "selections[0] (49ers): 'price' is required",
        ),
        (decimal_market(selections=[{"price": "1.85"}]), "INVALID_REQUEST", "selections[0]: 'name' is required"),
        (decimal_market(selections=["49ers"]), "INVALID_REQUEST", "selections[0] must be an object, got str"),
        (
            decimal_market(selections=[]),
            "INVALID_REQUEST",
            "'selections' must not be empty unless the market is suspended",
        ),
        (decimal_market(selections={}), "INVALID_REQUEST", "'selections' must be a list, got dict"),
        (decimal_market(suspended="yes"), "INVALID_REQUEST", "'suspended' must be true or false, got 'yes'"),
        (decimal_market(handicap="abc"), "INVALID_REQUEST", "'handicap' 'abc' is not a number"),
        (decimal_market(handicap="-3.3"), "INVALID_REQUEST", "'handicap' '-3.3' is not a multiple of 0.25"),
        (decimal_market(name=None), "INVALID_REQUEST", "'name' is required"),
        ("Match Winner", "INVALID_REQUEST", "market must be an object, got str"),
    ],
)
def test_decimal_json_bad_market_between_good_ones(market: object, code: str, reason: str) -> None:
    items = parse_decimal([decimal_event(markets=[decimal_market("A"), market, decimal_market("C")])])

    assert kinds(items) == ["quote", "rejection", "quote"]
    assert [quote(items[0]).market, quote(items[2]).market] == ["A", "C"]
    bad = rejection(items[1])
    assert (bad.index, bad.path, bad.code) == (1, "events[0].markets[1]", code)
    assert bad.reason == reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"kickoff": "23/03/2026"}, "'kickoff' '23/03/2026' is not an ISO 8601 time"),
        ({"kickoff": None}, "'kickoff' is required"),
        ({"updated": True}, "'updated' must be a time, got True"),
        ({"name": "49ers at Ravens"}, "event name '49ers at Ravens' is not of the form 'Home vs Away'"),
        ({"name": "vs Ravens"}, "event name 'vs Ravens' is not of the form 'Home vs Away'"),
        ({"sport": ""}, "'sport' is required"),
        ({"competition": 5}, "'competition' must be a string, got int"),
    ],
)
def test_decimal_json_bad_event_rejects_each_of_its_markets(overrides: dict[str, Any], reason: str) -> None:
    bad_event = decimal_event(markets=[decimal_market("X"), decimal_market("Y")], **overrides)

    items = parse_decimal([decimal_event(), bad_event, decimal_event()])

    assert kinds(items) == ["quote", "rejection", "rejection", "quote"]
    assert [(rejection(item).index, rejection(item).path, rejection(item).reason) for item in items[1:3]] == [
        (1, "events[1]", reason),
        (2, "events[1]", reason),
    ]


def test_decimal_json_indices_count_items_across_events() -> None:
    events: list[Any] = [
        decimal_event(markets=[decimal_market("A"), decimal_market("B")]),
        "not an event",
        decimal_event(markets={"name": "A"}),
        decimal_event(markets=[], kickoff="never"),
        decimal_event(markets=[]),
        decimal_event(markets=[decimal_market("A"), decimal_market(selections=[{"name": "x", "price": "abc"}])]),
    ]

    items = parse_decimal(events)

    assert kinds(items) == ["quote", "quote", "rejection", "rejection", "rejection", "quote", "quote", "rejection"]
    assert [(rejection(items[i]).index, rejection(items[i]).path) for i in (2, 3, 4, 7)] == [
        (2, "events[1]"),
        (3, "events[2]"),
        (4, "events[3]"),
        (7, "events[5].markets[1]"),
    ]
    assert rejection(items[2]).reason == "event must be an object, got str"
    assert rejection(items[3]).reason == "'markets' must be a list, got dict"
    assert quote(items[5]).market is None


# --- american_json -----------------------------------------------------------------------------


def american_lines() -> dict[str, Any]:
    return {
        "moneyline": {"home": "-118", "away": "+110"},
        "spread": {"line": "-3.5", "home": "-110", "away": "-110"},
        "total": {"line": "47.5", "over": "-110", "under": "-105"},
    }


def american_game(**overrides: Any) -> dict[str, Any]:
    game: dict[str, Any] = {
        "game_id": 123,
        "league": "NFL",
        "matchup": "SFO-BAL",
        "start": "2026-03-23 20:20:00",
        "status": "live",
        "as_of": 1774276227,
        "lines": american_lines(),
    }
    game.update(overrides)
    return game


def parse_american(games: list[Any], source: str | None = None, provider: str | None = "linestar") -> list[Parsed]:
    body: dict[str, Any] = {"games": games}
    if provider is not None:
        body["provider"] = provider
    return list(american_json.ADAPTER.parse(orjson.dumps(body), source))


def test_american_json_maps_every_field() -> None:
    items = parse_american([american_game()])

    game = SourceQuote(
        source="linestar",
        sport="NFL",
        league="NFL",
        home_team="SFO",
        away_team="BAL",
        start_time=KICKOFF,
        status="live",
        market=None,
        line=None,
        prices=(),
        suspended=False,
        timestamp=UPDATED,
    )
    minus_110 = Decimal(1) + Decimal(100) / Decimal(110)
    assert [quote(item) for item in items] == [
        replace(
            game,
            market="moneyline",
            prices=(("home", Decimal(1) + Decimal(100) / Decimal(118)), ("away", Decimal("2.10"))),
        ),
        replace(game, market="spread", line=Decimal("-3.5"), prices=(("home", minus_110), ("away", minus_110))),
        replace(
            game,
            market="total",
            line=Decimal("47.5"),
            prices=(("over", minus_110), ("under", Decimal(1) + Decimal(100) / Decimal(105))),
        ),
    ]


def test_american_json_odds_convert_exactly() -> None:
    lines = {"moneyline": {"home": "-118", "away": "+110", "draw": "EVEN", "other": -250, "fav": "+100"}}

    [item] = parse_american([american_game(lines=lines)])

    prices = dict(quote(item).prices)
    home = prices["home"]
    assert home == Decimal("1.847457627118644067796610170")
    assert decimal_to_american(home) == -118
    assert prices["away"] == Decimal("2.1")
    assert prices["draw"] == Decimal(2)
    assert prices["other"] == Decimal("1.4")
    assert prices["fav"] == Decimal(2)


def test_american_json_off_and_null_are_suspended_selections() -> None:
    lines = {"moneyline": {"home": "OFF", "away": None}, "total": {"line": "47.5", "over": "off", "under": "-105"}}

    items = parse_american([american_game(lines=lines)])

    assert quote(items[0]).prices == (("home", None), ("away", None))
    assert quote(items[1]).prices == (("over", None), ("under", Decimal(1) + Decimal(100) / Decimal(105)))
    assert quote(items[0]).suspended is False


@pytest.mark.parametrize(
    ("matchup", "home", "away"),
    [
        ("SFO-BAL", "SFO", "BAL"),
        ("BAL@SFO", "SFO", "BAL"),
        (" BAL @ SFO ", "SFO", "BAL"),
        ("LA-C@NY", "LA", "C@NY"),
        ("LA@NY-B", "NY-B", "LA"),
    ],
)
def test_american_json_matchup_order(matchup: str, home: str, away: str) -> None:
    [item, *_] = parse_american([american_game(matchup=matchup)])

    assert (quote(item).home_team, quote(item).away_team) == (home, away)


@pytest.mark.parametrize("lines", [{}, None])
def test_american_json_game_without_lines_is_status_only(lines: dict[str, Any] | None) -> None:
    game = american_game(lines=lines, status="final")
    if lines is None:
        del game["lines"]

    [item] = parse_american([game])

    assert quote(item).market is None
    assert quote(item).prices == ()
    assert quote(item).status == "final"
    assert quote(item).timestamp == UPDATED


def test_american_json_times() -> None:
    items = parse_american([american_game(start="2026-03-23T21:20:00+01:00", as_of=1774276227000, lines={})])

    assert quote(items[0]).start_time == KICKOFF
    assert quote(items[0]).timestamp == UPDATED


def test_american_json_source_argument_only_without_provider() -> None:
    assert quote(parse_american([american_game()], "arg")[0]).source == "linestar"
    assert quote(parse_american([american_game()], "arg", provider=None)[0]).source == "arg"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe", "not valid JSON"),
        (b"[1]", "body must be an object"),
        (b'{"provider": "p", "games": "none"}', "'games' must be a list"),
        (b'{"games": []}', "'provider' must be a non-empty string"),
    ],
)
def test_american_json_unreadable_payload(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        american_json.ADAPTER.parse(payload)


@pytest.mark.parametrize(
    ("market", "code", "reason"),
    [
        ({"home": "abc", "away": "+110"}, "INVALID_ODDS", "selection 'home': American odds 'abc' is not a number"),
        (
            {"home": "-118", "away": "+50"},
            "INVALID_ODDS",
            "selection 'away': American odds must be <= -100 or >= +100, got 50",
        ),
        ({"home": "NaN"}, "INVALID_ODDS", "selection 'home': American odds must be <= -100 or >= +100, got NaN"),
        ({"home": "-100000000"}, "INVALID_ODDS", "selection 'home': decimal odds 1.000001 are below the minimum 1.01"),
        ({"home": ["-110"]}, "INVALID_ODDS", "selection 'home': American odds must be a number, got list"),
        ({"line": "abc", "over": "-110"}, "INVALID_REQUEST", "'lines.spread.line' 'abc' is not a number"),
        ({"line": "47.3", "over": "-110"}, "INVALID_REQUEST", "'lines.spread.line' '47.3' is not a multiple of 0.25"),
        ({"line": "-3.5"}, "INVALID_REQUEST", "lines.spread has no selections"),
        ("-110", "INVALID_REQUEST", "lines.spread must be an object, got str"),
    ],
)
def test_american_json_bad_line_between_good_ones(market: object, code: str, reason: str) -> None:
    lines = {"moneyline": {"home": "-118", "away": "+110"}, "spread": market, "total": american_lines()["total"]}

    items = parse_american([american_game(lines=lines)])

    assert kinds(items) == ["quote", "rejection", "quote"]
    assert [quote(items[0]).market, quote(items[2]).market] == ["moneyline", "total"]
    bad = rejection(items[1])
    assert (bad.index, bad.path, bad.code, bad.reason) == (1, "games[0].lines.spread", code, reason)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"matchup": "SFOBAL"}, "'matchup' 'SFOBAL' is not of the form 'HOME-AWAY' or 'AWAY@HOME'"),
        ({"matchup": "SFO-"}, "'matchup' 'SFO-' is not of the form 'HOME-AWAY' or 'AWAY@HOME'"),
        ({"matchup": None}, "'matchup' is required"),
        ({"league": None}, "'league' is required"),
        ({"start": "23/03/2026 20:20"}, "'start' '23/03/2026 20:20' is not an ISO 8601 time"),
        ({"as_of": 10**18}, "'as_of' epoch 1000000000000000000 is out of range"),
        ({"as_of": None}, "'as_of' is required"),
        ({"status": 1}, "'status' must be a string, got int"),
    ],
)
def test_american_json_bad_game_rejects_each_of_its_lines(overrides: dict[str, Any], reason: str) -> None:
    items = parse_american([american_game(lines={}), american_game(**overrides), american_game(lines={})])

    assert kinds(items) == ["quote", "rejection", "rejection", "rejection", "quote"]
    assert [(rejection(item).index, rejection(item).path, rejection(item).reason) for item in items[1:4]] == [
        (index, "games[1]", reason) for index in (1, 2, 3)
    ]


def test_american_json_games_that_cannot_be_split() -> None:
    items = parse_american([7, american_game(lines=["moneyline"]), american_game(lines={})])

    assert kinds(items) == ["rejection", "rejection", "quote"]
    assert (rejection(items[0]).index, rejection(items[0]).path, rejection(items[0]).reason) == (
        0,
        "games[0]",
        "game must be an object, got int",
    )
    assert (rejection(items[1]).index, rejection(items[1]).path, rejection(items[1]).reason) == (
        1,
        "games[1]",
        "'lines' must be an object, got list",
    )


# --- legacy_csv --------------------------------------------------------------------------------

CSV_HEADER = "match_date;kick_off;sport;league;home;away;market;line;selection;price;last_update"
ONE_X_TWO = [
    "23/03/2026;20:20;Football;Premier League;Arsenal;Chelsea;1X2;;1;6/4;23/03/2026 14:30:27",
    "23/03/2026;20:20;Football;Premier League;Arsenal;Chelsea;1X2;;X;9/4;23/03/2026 14:30:27",
    "23/03/2026;20:20;Football;Premier League;Arsenal;Chelsea;1X2;;2;15/8;23/03/2026 14:30:27",
]
TOTAL_GOALS = [
    "23/03/2026;20:20;Football;Premier League;Arsenal;Chelsea;Total Goals;2.5;Over;17/20;23/03/2026 14:29:00",
    "23/03/2026;20:20;Football;Premier League;Arsenal;Chelsea;Total Goals;2.5;Under;evens;23/03/2026 14:31:05",
]


def parse_csv(rows: list[str], source: str | None = None, header: str = CSV_HEADER) -> list[Parsed]:
    return list(legacy_csv.ADAPTER.parse("\n".join([header, *rows]).encode(), source))


def csv_row(**changes: str) -> str:
    """The first 1X2 row with some columns replaced."""
    fields = dict(zip(CSV_HEADER.split(";"), ONE_X_TWO[0].split(";"), strict=True))
    fields.update(changes)
    return ";".join(fields.values())


def test_legacy_csv_maps_every_field() -> None:
    [item] = parse_csv(ONE_X_TWO)

    assert quote(item) == SourceQuote(
        source="legacy_csv",
        sport="Football",
        league="Premier League",
        home_team="Arsenal",
        away_team="Chelsea",
        start_time=KICKOFF,
        status=None,
        market="1X2",
        line=None,
        prices=(("1", Decimal("2.5")), ("X", Decimal("3.25")), ("2", Decimal("2.875"))),
        suspended=False,
        timestamp=UPDATED,
    )


def test_legacy_csv_groups_consecutive_rows_and_takes_the_latest_update() -> None:
    items = parse_csv([*ONE_X_TWO, *TOTAL_GOALS], source="oldbook")

    total = quote(items[1])
    assert [quote(item).market for item in items] == ["1X2", "Total Goals"]
    assert total.source == "oldbook"
    assert total.line == Decimal("2.5")
    assert total.prices == (("Over", Decimal("1.85")), ("Under", Decimal(2)))
    assert total.timestamp == datetime(2026, 3, 23, 14, 31, 5, tzinfo=UTC)


def test_legacy_csv_a_group_is_only_consecutive_rows() -> None:
    items = parse_csv([ONE_X_TWO[0], *TOTAL_GOALS, ONE_X_TWO[1]])

    assert [(quote(item).market, len(quote(item).prices)) for item in items] == [
        ("1X2", 1),
        ("Total Goals", 2),
        ("1X2", 1),
    ]


def test_legacy_csv_suspended_selection_and_optional_columns() -> None:
    items = parse_csv([csv_row(price="SUSP", league=""), csv_row(price="susp", league="", selection="2")])

    assert quote(items[0]).prices == (("1", None), ("2", None))
    assert quote(items[0]).league is None
    assert quote(items[0]).suspended is False


def test_legacy_csv_tolerates_bom_crlf_blank_lines_and_padding() -> None:
    payload = "\ufeff" + "\r\n".join([CSV_HEADER.upper(), "", ONE_X_TWO[0].replace(";1;", "; 1 ;"), "  ", ONE_X_TWO[1]])

    [item] = list(legacy_csv.ADAPTER.parse(payload.encode()))

    assert quote(item).prices == (("1", Decimal("2.5")), ("X", Decimal("3.25")))


def test_legacy_csv_header_only_has_no_items() -> None:
    assert parse_csv([]) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "payload is empty"),
        (CSV_HEADER.encode("utf-16"), "payload is not UTF-8"),
        ("\n".join([CSV_HEADER, ONE_X_TWO[0].replace("Arsenal", "Ars\u00e9nal")]).encode("latin-1"), "not UTF-8"),
        (ONE_X_TWO[0].encode(), "header row must be match_date;kick_off;"),
        (CSV_HEADER.replace(";", ",").encode(), "header row must be"),
        (CSV_HEADER.replace("price;", "").encode(), "header row must be"),
        ((CSV_HEADER + ";extra").encode(), "header row must be"),
        ((CSV_HEADER + "\n" + "x" * 200_000).encode(), "line 2 is not readable CSV: field larger than"),
    ],
)
def test_legacy_csv_unreadable_payload(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        legacy_csv.ADAPTER.parse(payload)


@pytest.mark.parametrize(
    ("row", "code", "reason"),
    [
        (csv_row(price="abc"), "INVALID_ODDS", "selection 'X': fractional odds 'abc' are not of the form N/D"),
        (csv_row(price="1.5"), "INVALID_ODDS", "selection 'X': fractional odds '1.5' are not of the form N/D"),
        (csv_row(price="0/1"), "INVALID_ODDS", "selection 'X': fractional odds '0/1' must have a non-zero"),
        (csv_row(price="1/1000"), "INVALID_ODDS", "selection 'X': decimal odds 1.001 are below the minimum 1.01"),
        (csv_row(price=""), "INVALID_REQUEST", "'price' is required"),
        (csv_row(selection=""), "INVALID_REQUEST", "'selection' is required"),
        (csv_row(last_update="2026-03-23T14:30:27Z"), "INVALID_REQUEST", "'last_update' '2026-03-23T14:30:27Z' is not"),
        (csv_row() + ";extra", "INVALID_REQUEST", "row has 12 fields, expected 11"),
    ],
)
def test_legacy_csv_bad_row_rejects_its_group(row: str, code: str, reason: str) -> None:
    bad_group = [
        ONE_X_TWO[0].replace("Arsenal", "Spurs"),
        row.replace("Arsenal", "Spurs").replace(";1;", ";X;"),
        ONE_X_TWO[2].replace("Arsenal", "Spurs"),
    ]

    items = parse_csv([*ONE_X_TWO, *bad_group, *TOTAL_GOALS])

    assert kinds(items) == ["quote", "rejection", "quote"]
    assert quote(items[0]).home_team == "Arsenal"
    assert quote(items[2]).market == "Total Goals"
    bad = rejection(items[1])
    assert (bad.index, bad.path, bad.code) == (1, "line 6", code)
    assert bad.reason.startswith(reason), bad.reason
    assert bad.reason.endswith("(rejects the group of lines 5-7)")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (csv_row(match_date="31/02/2026"), "'match_date' '31/02/2026' is not a DD/MM/YYYY date"),
        (csv_row(match_date="2026-03-23"), "'match_date' '2026-03-23' is not a DD/MM/YYYY date"),
        (csv_row(kick_off="8pm"), "'kick_off' '8pm' is not an HH:MM time"),
        (csv_row(kick_off=""), "'kick_off' is required"),
        (csv_row(line="abc"), "'line' 'abc' is not a number"),
        (csv_row(line="2.4"), "'line' '2.4' is not a multiple of 0.25"),
        (csv_row(sport=""), "'sport' is required"),
        (csv_row(home=""), "'home' is required"),
        (csv_row(market=""), "'market' is required"),
        ("23/03/2026;20:20;Football", "row has 3 fields, expected 11"),
    ],
)
def test_legacy_csv_bad_single_row_group(row: str, reason: str) -> None:
    items = parse_csv([*TOTAL_GOALS, row, *ONE_X_TWO])

    assert kinds(items) == ["quote", "rejection", "quote"]
    assert quote(items[2]).prices == (("1", Decimal("2.5")), ("X", Decimal("3.25")), ("2", Decimal("2.875")))
    assert rejection(items[1]) == Rejection(1, reason, path="line 4")


def test_legacy_csv_reports_the_first_bad_row_of_a_group() -> None:
    rows = [ONE_X_TWO[0], ONE_X_TWO[1].replace("9/4", "x"), ONE_X_TWO[2].replace("15/8", "y")]

    [item] = parse_csv(rows)

    assert rejection(item).path == "line 3"
    assert rejection(item).reason.startswith("selection 'X': fractional odds 'x'")


def test_legacy_csv_line_numbers_count_blank_lines() -> None:
    items = parse_csv(["", *TOTAL_GOALS, "", csv_row(price="abc")])

    assert rejection(items[1]).path == "line 6"


# --- delta_stream ------------------------------------------------------------------------------

RECEIVED = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)
TIP_OFF = datetime(2026, 3, 24, 0, 0, tzinfo=UTC)
FIXTURE = {
    "type": "fixture",
    "match_id": 5501,
    "sport": "Basketball",
    "league": "NBA",
    "home": "Lakers",
    "away": "Celtics",
    "start": 1774310400000,
    "status": "scheduled",
}
PRICE = {
    "type": "price",
    "match_id": 5501,
    "bookmaker_id": "b7",
    "market": "ML",
    "selection": "home",
    "price": 1.95,
    "ts": 1774276227123,
}
SUSPENDED_TOTAL = {
    "type": "price",
    "match_id": 5501,
    "bookmaker_id": "b7",
    "market": "TOTAL",
    "line": 221.5,
    "selection": "over",
    "suspended": True,
    "ts": 1774276227456,
}


def stream() -> delta_stream.DeltaStreamAdapter:
    return delta_stream.DeltaStreamAdapter(clock=lambda: RECEIVED)


def ndjson(*messages: object) -> bytes:
    return b"\n".join(message if isinstance(message, bytes) else orjson.dumps(message) for message in messages)


def test_delta_stream_fixture_then_prices() -> None:
    items = list(stream().parse(ndjson(FIXTURE, PRICE, SUSPENDED_TOTAL)))

    fixture = SourceQuote(
        source="delta_stream",
        sport="Basketball",
        league="NBA",
        home_team="Lakers",
        away_team="Celtics",
        start_time=TIP_OFF,
        status="scheduled",
        market=None,
        line=None,
        prices=(),
        suspended=False,
        timestamp=RECEIVED,
    )
    price = replace(fixture, source="delta_stream:b7", status=None)
    assert [quote(item) for item in items] == [
        fixture,
        replace(
            price,
            market="ML",
            prices=(("home", Decimal("1.95")),),
            timestamp=datetime(2026, 3, 23, 14, 30, 27, 123000, tzinfo=UTC),
        ),
        replace(
            price,
            market="TOTAL",
            line=Decimal("221.5"),
            prices=(("over", None),),
            timestamp=datetime(2026, 3, 23, 14, 30, 27, 456000, tzinfo=UTC),
        ),
    ]


def test_delta_stream_source_argument_prefixes_bookmakers() -> None:
    items = list(stream().parse(ndjson(FIXTURE, PRICE), source="sportsfeed"))

    assert [quote(item).source for item in items] == ["sportsfeed", "sportsfeed:b7"]


def test_delta_stream_fixture_ts_is_used_when_sent() -> None:
    [item] = stream().parse(ndjson({**FIXTURE, "ts": 1774276227000}))

    assert quote(item).timestamp == UPDATED


def test_delta_stream_remembers_fixtures_across_payloads() -> None:
    adapter = stream()
    list(adapter.parse(ndjson(FIXTURE)))

    [item] = adapter.parse(ndjson({**PRICE, "match_id": "5501"}))

    assert quote(item).home_team == "Lakers"


def test_delta_stream_fixture_update_applies_to_later_prices() -> None:
    moved = {**FIXTURE, "start": "2026-03-25T00:00:00Z", "status": "postponed"}

    items = list(stream().parse(ndjson(FIXTURE, moved, PRICE)))

    assert quote(items[1]).status == "postponed"
    assert quote(items[2]).start_time == datetime(2026, 3, 25, tzinfo=UTC)


def test_delta_stream_fixtures_are_per_source() -> None:
    adapter = stream()
    list(adapter.parse(ndjson(FIXTURE), source="a"))

    [item] = adapter.parse(ndjson(PRICE), source="b")

    assert rejection(item).reason == "unknown match_id 5501: send its fixture first"


def test_delta_stream_instances_do_not_share_fixtures() -> None:
    first, second = delta_stream.make_adapter(), delta_stream.make_adapter()
    list(first.parse(ndjson(FIXTURE)))

    [item] = second.parse(ndjson(PRICE))

    assert rejection(item) == Rejection(0, "unknown match_id 5501: send its fixture first", path="line 1")


def test_delta_stream_blank_lines_are_skipped_and_not_counted() -> None:
    payload = b"\n" + ndjson(FIXTURE) + b"\r\n\r\n   \n" + ndjson({**PRICE, "price": "abc"}) + b"\n\n"

    items = list(stream().parse(payload))

    assert kinds(items) == ["quote", "rejection"]
    assert rejection(items[1]) == Rejection(
        1, "selection 'home': odds 'abc' is not a number", path="line 5", code="INVALID_ODDS"
    )


def test_delta_stream_empty_payload_has_no_items() -> None:
    assert list(stream().parse(b"")) == []


@pytest.mark.parametrize(
    ("line", "code", "reason"),
    [
        (b"{not json", "INVALID_REQUEST", "line is not valid JSON: "),
        (b"\xff", "INVALID_REQUEST", "line is not valid JSON: "),
        (b"[1, 2]", "INVALID_REQUEST", "message must be an object, got list"),
        ({**PRICE, "type": "score"}, "INVALID_REQUEST", "'type' must be 'fixture' or 'price', got 'score'"),
        ({**PRICE, "match_id": 77}, "INVALID_REQUEST", "unknown match_id 77: send its fixture first"),
        ({**PRICE, "match_id": None}, "INVALID_REQUEST", "'match_id' must be an integer or a non-empty string"),
        ({**PRICE, "match_id": 5501.0}, "INVALID_REQUEST", "'match_id' must be an integer or a non-empty string"),
        ({**PRICE, "price": 1.0}, "INVALID_ODDS", "selection 'home': decimal odds must be greater than 1.0, got 1.0"),
        ({**PRICE, "price": 0.5}, "INVALID_ODDS", "selection 'home': decimal odds must be greater than 1.0, got 0.5"),
        ({**PRICE, "price": "NaN"}, "INVALID_ODDS", "selection 'home': odds must be finite, got NaN"),
        ({**PRICE, "price": None}, "INVALID_ODDS", "selection 'home': odds must be a number, got None"),
        ({**PRICE, "suspended": "yes"}, "INVALID_REQUEST", "'suspended' must be true or false, got 'yes'"),
        ({**PRICE, "line": "x"}, "INVALID_REQUEST", "'line' 'x' is not a number"),
        ({**PRICE, "line": 221.3}, "INVALID_REQUEST", "'line' 221.3 is not a multiple of 0.25"),
        ({**PRICE, "ts": "yesterday"}, "INVALID_REQUEST", "'ts' 'yesterday' is not an ISO 8601 time"),
        ({**PRICE, "ts": None}, "INVALID_REQUEST", "'ts' is required"),
        ({**PRICE, "bookmaker_id": ""}, "INVALID_REQUEST", "'bookmaker_id' is required"),
        ({**PRICE, "market": None}, "INVALID_REQUEST", "'market' is required"),
        ({**PRICE, "selection": 1}, "INVALID_REQUEST", "'selection' must be a string, got int"),
        ({**FIXTURE, "match_id": 6, "start": "soon"}, "INVALID_REQUEST", "'start' 'soon' is not an ISO 8601 time"),
        ({**FIXTURE, "match_id": 6, "home": None}, "INVALID_REQUEST", "'home' is required"),
    ],
)
def test_delta_stream_bad_line_between_good_ones(line: object, code: str, reason: str) -> None:
    items = list(stream().parse(ndjson(FIXTURE, PRICE, line, SUSPENDED_TOTAL)))

    assert kinds(items) == ["quote", "quote", "rejection", "quote"]
    assert quote(items[3]).market == "TOTAL"
    bad = rejection(items[2])
    assert (bad.index, bad.path, bad.code) == (2, "line 3", code)
    assert bad.reason.startswith(reason), bad.reason


def test_delta_stream_bad_fixture_does_not_register_or_change_the_match() -> None:
    bad_new = {**FIXTURE, "match_id": 6, "status": 3}
    bad_update = {**FIXTURE, "away": "", "start": 1}

    items = list(stream().parse(ndjson(FIXTURE, bad_new, {**PRICE, "match_id": 6}, bad_update, PRICE)))

    assert kinds(items) == ["quote", "rejection", "rejection", "rejection", "quote"]
    assert rejection(items[1]).reason == "'status' must be a string, got int"
    assert rejection(items[2]).reason == "unknown match_id 6: send its fixture first"
    assert quote(items[4]).away_team == "Celtics"
    assert quote(items[4]).start_time == TIP_OFF
