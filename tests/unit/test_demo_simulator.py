"""The demo feed simulator: deterministic, realistic, and writing valid vendor wire formats."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import re
import statistics
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from feeds.adapters import load_adapters
from feeds.adapters.base import Rejection
from feeds.aliases import AliasBook
from feeds.demo import vendors
from feeds.demo.simulator import Payload, Simulator, record, run_demo
from feeds.match_wire import parse_state
from feeds.normalize import Normalizer

START = datetime(2026, 3, 23, 19, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "feeds" / "data"
SPORTS = {"football", "american_football", "basketball", "tennis", "ice_hockey"}
CSV_HEADER = "match_date;kick_off;sport;league;home;away;market;line;selection;price;last_update"
WIRE_SPORTS = {
    "football": "football",
    "soccer": "football",
    "american football": "american_football",
    "basketball": "basketball",
    "tennis": "tennis",
    "ice hockey": "ice_hockey",
}
LEAGUE_SPORTS = {"NFL": "american_football", "NBA": "basketball", "NHL": "ice_hockey"}


class Clock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return START + timedelta(seconds=self.seconds)


class Run:
    """A simulation driven tick by tick on a manual clock, keeping every payload with its time."""

    def __init__(self, seed: int, seconds: float, step: float = 0.25) -> None:
        clock = Clock()
        self.sim = Simulator(seed=seed, clock=clock)
        self.sim.tick()
        self.first = list(self.sim.events)
        self.payloads: list[tuple[float, Payload]] = []
        self.event_counts: list[int] = []
        for n in range(1, round(seconds / step) + 1):
            clock.seconds = n * step
            self.payloads.extend((clock.seconds, p) for p in self.sim.tick())
            self.event_counts.append(len(self.sim.events))

    def of(self, adapter: str) -> list[tuple[float, Payload]]:
        return [(at, p) for at, p in self.payloads if p.adapter == adapter]


@pytest.fixture(scope="module")
def long_run() -> Run:
    return Run(seed=3, seconds=720)


@pytest.fixture(scope="module")
def aliases() -> dict[str, set[str]]:
    """Every spelling the alias data allows, per sport: names, slugs and aliases."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in DATA.glob("*.toml"):
        for team in tomllib.loads(path.read_text(encoding="utf-8")).get("teams", []):
            found[team["sport"]].update([team["name"], *team["aliases"]])
    return found


def test_same_seed_same_payloads_and_another_seed_differs() -> None:
    def bodies(seed: int) -> list[tuple[float, str, bytes, str | None]]:
        return [(at, p.adapter, p.body, p.source) for at, p in Run(seed, 90).payloads]

    first = bodies(5)
    assert first == bodies(5)
    assert first != bodies(6)


def test_about_forty_events_across_the_five_sports(long_run: Run) -> None:
    assert 38 <= len(long_run.first) <= 40
    assert {e.sport for e in long_run.first} == SPORTS
    assert {e.league.name for e in long_run.first} >= {"Premier League", "NFL", "NBA", "NHL", "ATP", "WTA"}
    # Some already under way, the rest spread over the next hours.
    starts = sorted((e.start - START).total_seconds() for e in long_run.first)
    assert starts[0] < 0 < starts[-1]
    assert starts[-1] > 3600
    assert sum(1 for e in long_run.first if e.status == "live") >= 1
    # Finished events give way to new ones: always about forty.
    assert min(long_run.event_counts) >= 36
    assert max(long_run.event_counts) <= 40


def test_every_payload_is_valid_in_its_wire_format(long_run: Run) -> None:
    seen = Counter(p.adapter for _, p in long_run.payloads)
    assert set(seen) == {"decimal_json", "american_json", "delta_stream", "legacy_csv"}
    for _, payload in long_run.payloads:
        CHECKS[payload.adapter](payload)


def test_message_rate_is_roughly_the_configured_rate(long_run: Run) -> None:
    per_second = len(long_run.payloads) / 720
    assert 14.0 <= per_second <= 21.0


def test_every_name_is_an_alias_of_its_team(long_run: Run, aliases: dict[str, set[str]]) -> None:
    for _, payload in long_run.payloads:
        for sport, name in team_names(payload):
            assert name in aliases[sport], f"{payload.adapter} wrote {name!r}, not an alias of a {sport} team"


def test_events_go_live_and_finish(long_run: Run) -> None:
    states: dict[str, list[str]] = defaultdict(list)
    first_seen: dict[str, float] = {}
    for at, payload in long_run.of("decimal_json"):
        for event in json.loads(payload.body)["events"]:
            first_seen.setdefault(event["id"], at)
            if not states[event["id"]] or states[event["id"]][-1] != event["state"]:
                states[event["id"]].append(event["state"])
    whole_lives = [e for e, seen in states.items() if seen == ["scheduled", "inplay", "ended"]]
    assert len(whole_lives) >= 2
    assert sum(1 for seen in states.values() if seen[-1] == "ended") >= 4
    # Replacements appear as new scheduled events after the start.
    late = [e for e, at in first_seen.items() if at > 120]
    assert late
    assert all(states[e][0] == "scheduled" for e in late)


def test_live_phase_lasts_a_few_minutes(long_run: Run) -> None:
    went_live: dict[str, float] = {}
    seen: set[str] = set()
    lengths = []
    for at, payload in long_run.of("decimal_json"):
        for event in json.loads(payload.body)["events"]:
            # Events already under way at the start are seen for only part of their match.
            if event["id"] not in seen and event["state"] == "scheduled":
                seen.add(event["id"])
            if event["state"] == "inplay" and event["id"] in seen:
                went_live.setdefault(event["id"], at)
            elif event["state"] == "ended" and event["id"] in went_live:
                lengths.append(at - went_live.pop(event["id"]))
    assert lengths
    assert all(100 <= length <= 480 for length in lengths)


def test_the_dropout_vendor_goes_silent_and_returns(long_run: Run) -> None:
    times = [at for at, _ in long_run.of("american_json")]
    gaps = [(later - earlier, later) for earlier, later in itertools.pairwise(times)]
    outages = [(gap, back) for gap, back in gaps if gap >= 40]
    assert outages, "linestar never dropped out"
    assert all(gap <= 95 for gap, _ in outages)
    assert len(outages) >= 2  # every few minutes, not once
    # It comes back with a full snapshot of its games.
    comeback = next(p for at, p in long_run.of("american_json") if at == outages[0][1])
    assert len(json.loads(comeback.body)["games"]) >= 10
    # The others never go quiet.
    for adapter in ("decimal_json", "delta_stream", "legacy_csv"):
        others = [at for at, _ in long_run.of(adapter)]
        assert max(b - a for a, b in itertools.pairwise(others)) < 10


def test_outliers_happen_at_a_low_rate(long_run: Run) -> None:
    stats = long_run.sim.stats
    assert stats.quotes > 10_000
    assert 0.004 <= stats.outliers / stats.quotes <= 0.02


def test_books_quote_with_a_three_to_seven_percent_margin(long_run: Run) -> None:
    overrounds = [
        sum((1 / Decimal(s["price"]) for s in market["selections"]), Decimal(0)) - 1
        for _, payload in long_run.of("decimal_json")
        for event in json.loads(payload.body)["events"]
        for market in event["markets"]
        if not market["suspended"]
    ]
    assert 0.03 <= statistics.median(overrounds) <= 0.07
    # Outliers and rounding aside, every market carries a bookmaker's margin.
    assert sum(1 for o in overrounds if 0.02 <= o <= 0.085) / len(overrounds) >= 0.95


def test_football_has_draws_and_us_sports_have_spreads_and_totals(long_run: Run) -> None:
    markets: dict[str, set[str]] = defaultdict(set)
    for _, payload in long_run.of("decimal_json"):
        for event in json.loads(payload.body)["events"]:
            markets[event["sport"]].update(m["name"] for m in event["markets"])
    assert markets["Football"] == {"1X2"}
    assert markets["American Football"] == {"Match Winner", "Handicap", "Total Points"}
    assert markets["Basketball"] == {"Match Winner", "Handicap", "Total Points"}
    assert markets["Ice Hockey"] == {"Match Winner", "Total Points"}
    assert markets["Tennis"] == {"Match Winner"}


def test_delta_stream_sends_the_fixture_before_prices(long_run: Run) -> None:
    fixtures: dict[int, list[str]] = defaultdict(list)
    prices = 0
    for _, payload in long_run.of("delta_stream"):
        assert payload.source == "swift"
        for line in payload.body.decode().splitlines():
            message = json.loads(line)
            if message["type"] == "fixture":
                fixtures[message["match_id"]].append(message["status"])
            else:
                assert message["match_id"] in fixtures, "price before its fixture"
                prices += 1
    assert prices > 1000
    # Sent again when the status changes.
    assert any(statuses[:3] == ["not_started", "in_play", "ended"] for statuses in fixtures.values())
    bookmakers = {
        json.loads(line).get("bookmaker_id")
        for _, p in long_run.of("delta_stream")
        for line in p.body.decode().splitlines()
    }
    assert bookmakers - {None} == {"b1", "b2"}


def test_record_writes_the_documented_lines(tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    count = record(path, seconds=6, seed=3)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert count == len(lines) > 20
    previous = 0.0
    for text in lines:
        line = json.loads(text)
        assert set(line) == {"at", "adapter", "source", "payload"}
        assert previous <= line["at"] <= 6
        previous = line["at"]
        if line["adapter"] in {"decimal_json", "american_json"}:
            assert isinstance(line["payload"], dict)
            assert line["source"] is None
        else:
            assert isinstance(line["payload"], str)
            assert isinstance(line["source"], str)
    again = tmp_path / "again.jsonl"
    assert record(again, seconds=6, seed=3) == count
    assert again.read_bytes() == path.read_bytes()


def test_the_example_replay_is_a_valid_recording() -> None:
    path = ROOT / "examples" / "replay.jsonl"
    assert path.stat().st_size < 300_000
    lines = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    assert {line["adapter"] for line in lines} == {"decimal_json", "american_json", "delta_stream", "legacy_csv"}
    assert 55 <= lines[-1]["at"] <= 60
    for line in lines:
        payload = line["payload"]
        body = json.dumps(payload).encode() if isinstance(payload, dict) else payload.encode()
        CHECKS[line["adapter"]](Payload(line["adapter"], body, line["source"]))


def test_prices_are_rounded_like_real_books() -> None:
    assert vendors.american(1.847) == "-119"
    assert vendors.american(2.109) == "+110"
    assert vendors.american(2.0) == "+100"
    assert vendors.decimal_ladder(1.8579) == "1.85"
    assert vendors.decimal_ladder(12.7) == "12.50"
    assert vendors.decimal_ladder(27.9) == "27.00"
    assert vendors.decimal_nickel(1.93) == "1.90"
    assert vendors.fractional(2.55) == "6/4"
    assert vendors.fractional(2.0) == "evens"
    assert vendors.fractional(1.95) == "10/11"
    assert vendors.fractional(1.001) == "1/100"
    assert sum(vendors.with_margin([0.6, 0.4], 1.05)) == pytest.approx(1.05, abs=1e-4)


async def test_run_demo_carries_on_when_ingest_fails() -> None:
    received: list[Payload] = []
    failures = 0

    async def ingest(payload: Payload) -> None:
        nonlocal failures
        received.append(payload)
        if len(received) % 3 == 0:
            failures += 1
            raise ValueError("the pipeline is having a bad day")

    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.8, stop.set)
    await asyncio.wait_for(run_demo(ingest, rate=100.0, seed=1, stop=stop), timeout=10)
    assert failures >= 3
    assert len(received) > 3 * failures - 3  # it kept going after each failure
    assert {p.adapter for p in received} >= {"decimal_json", "delta_stream"}


def test_real_adapters_read_every_payload_without_rejections() -> None:
    adapters = load_adapters()
    assert {"decimal_json", "american_json", "delta_stream", "legacy_csv"} <= set(adapters)
    quotes: Counter[str] = Counter()
    for _, payload in Run(seed=7, seconds=120).payloads:
        for item in adapters[payload.adapter].parse(payload.body, payload.source):
            assert not isinstance(item, Rejection), f"{payload.adapter}: {item}"
            quotes[payload.adapter] += 1
    assert all(quotes[name] > 100 for name in ("decimal_json", "american_json", "delta_stream", "legacy_csv"))


def test_every_vendor_names_the_same_canonical_events() -> None:
    adapters = load_adapters()
    normalizer = Normalizer(AliasBook.load())
    run = Run(seed=7, seconds=120)
    sources: dict[str, set[str]] = defaultdict(set)
    for _, payload in run.payloads:
        for item in adapters[payload.adapter].parse(payload.body, payload.source):
            assert not isinstance(item, Rejection)
            quote = normalizer.normalize(item)
            if quote.market_id is not None:
                sources[quote.event.id].add(quote.source.partition(":")[0])
    # One canonical event per simulated one (none split by a vendor's spelling), priced by three
    # or more vendors each.
    assert 40 <= len(sources) <= len(run.first) + 4
    assert all(len(names) >= 3 for names in sources.values()), sources


# -- wire format checks, written from the formats' descriptions (not from the adapters) -------------

DECIMAL = re.compile(r"^\d+\.\d\d$")
AMERICAN = re.compile(r"^[+-]\d{3,5}$")
FRACTION = re.compile(r"^(\d+/\d+|evens|SUSP)$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def check_line(value: object) -> Decimal:
    assert isinstance(value, str | float | int)
    line = Decimal(str(value))
    assert line % Decimal("0.5") == 0
    return line


def check_decimal_json(payload: Payload) -> None:
    body = json.loads(payload.body)
    assert set(body) == {"bookmaker", "events"}
    assert body["bookmaker"] == "betpoint"
    assert payload.source is None
    assert body["events"]
    for event in body["events"]:
        fields = {"id", "sport", "competition", "name", "kickoff", "state", "updated", "markets"}
        # In play the match state comes too, in the shared wire shape.
        assert set(event) in (fields, fields | {"match"})
        if "match" in event:
            assert parse_state(event["match"], datetime.now(UTC)) is not None
        assert event["name"].count(" vs ") == 1
        assert ISO_Z.match(event["kickoff"])
        assert ISO_Z.match(event["updated"])
        assert event["state"] in {"scheduled", "inplay", "ended"}
        assert event["sport"].lower() in WIRE_SPORTS
        if event["state"] == "ended":
            assert event["markets"] == []
        for market in event["markets"]:
            assert set(market) == {"name", "handicap", "suspended", "selections"}
            assert isinstance(market["suspended"], bool)
            names = [s["name"] for s in market["selections"]]
            if market["name"] in {"Match Winner", "1X2"}:
                assert market["handicap"] is None
                assert len(names) == (3 if market["name"] == "1X2" else 2)
            else:
                assert market["name"] in {"Handicap", "Total Points"}
                check_line(market["handicap"])
            if market["name"] == "Total Points":
                assert names == ["Over", "Under"]
            if market["name"] == "1X2":
                assert names[1] == "Draw"
            for selection in market["selections"]:
                assert DECIMAL.match(selection["price"])
                assert Decimal(selection["price"]) >= Decimal("1.01")


def check_american_json(payload: Payload) -> None:
    body = json.loads(payload.body)
    assert set(body) == {"provider", "games"}
    assert body["provider"] == "linestar"
    assert payload.source is None
    for game in body["games"]:
        fields = {"game_id", "league", "matchup", "start", "status", "as_of", "lines"}
        assert set(game) in (fields, fields | {"state"})
        if "state" in game:
            assert parse_state(game["state"], datetime.now(UTC)) is not None
        assert isinstance(game["game_id"], int)
        assert game["league"] in {"NFL", "NBA", "NHL"}
        assert re.fullmatch(r"[A-Z][A-Z0-9]{1,3}-[A-Z][A-Z0-9]{1,3}", game["matchup"])
        datetime.strptime(game["start"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert game["status"] in {"scheduled", "live", "final"}
        assert isinstance(game["as_of"], int)
        if game["status"] == "final":
            assert game["lines"] == {}
        assert set(game["lines"]) <= {"moneyline", "spread", "total"}
        for market, quote in game["lines"].items():
            labels = {
                "moneyline": {"home", "away"},
                "spread": {"line", "home", "away"},
                "total": {"line", "over", "under"},
            }
            assert set(quote) == labels[market]
            for label, price in quote.items():
                if label == "line":
                    check_line(price)
                elif price != "OFF":
                    assert AMERICAN.match(price)
                    assert abs(int(price)) >= 100


def check_delta_stream(payload: Payload) -> None:
    assert payload.source == "swift"
    assert payload.body.endswith(b"\n")
    for line in payload.body.decode().splitlines():
        message = json.loads(line)
        if message["type"] == "fixture":
            assert set(message) == {"type", "match_id", "sport", "league", "home", "away", "start", "status"}
            assert isinstance(message["start"], int)
            assert message["sport"].lower() in WIRE_SPORTS
            assert message["status"] in {"not_started", "in_play", "ended"}
            continue
        assert message["type"] == "price"
        assert isinstance(message["match_id"], int)
        assert message["bookmaker_id"] in {"b1", "b2"}
        assert isinstance(message["ts"], int)
        selections = {
            "ML": {"home", "away"},
            "1X2": {"home", "draw", "away"},
            "SPREAD": {"home", "away"},
            "TOTAL": {"over", "under"},
        }
        assert message["selection"] in selections[message["market"]]
        assert ("line" in message) == (message["market"] in {"SPREAD", "TOTAL"})
        if "line" in message:
            check_line(message["line"])
        if message.get("suspended"):
            assert "price" not in message
        else:
            assert isinstance(message["price"], float)
            assert message["price"] >= 1.01


def check_legacy_csv(payload: Payload) -> None:
    assert payload.source == "oldbook"
    rows = list(csv.reader(io.StringIO(payload.body.decode()), delimiter=";"))
    assert ";".join(rows[0]) == CSV_HEADER
    assert len(rows) > 1
    for row in rows[1:]:
        assert len(row) == 11
        match_date, kick_off, sport, _, _, _, market, line, selection, price, updated = row
        datetime.strptime(f"{match_date} {kick_off}", "%d/%m/%Y %H:%M").replace(tzinfo=UTC)
        datetime.strptime(updated, "%d/%m/%Y %H:%M:%S").replace(tzinfo=UTC)
        assert sport in {"Football", "Tennis"}
        assert market in {"1X2", "Match Winner"}
        assert line == ""
        assert selection in ({"1", "X", "2"} if market == "1X2" else {"1", "2"})
        assert FRACTION.match(price)


CHECKS = {
    "decimal_json": check_decimal_json,
    "american_json": check_american_json,
    "delta_stream": check_delta_stream,
    "legacy_csv": check_legacy_csv,
}


def team_names(payload: Payload) -> list[tuple[str, str]]:
    """(sport, name) for every team name or abbreviation the payload writes."""
    names: list[tuple[str, str]] = []
    if payload.adapter == "decimal_json":
        for event in json.loads(payload.body)["events"]:
            sport = WIRE_SPORTS[event["sport"].lower()]
            home, away = event["name"].split(" vs ")
            names += [(sport, home), (sport, away)]
            for market in event["markets"]:
                names += [
                    (sport, s["name"]) for s in market["selections"] if s["name"] not in {"Draw", "Over", "Under"}
                ]
    elif payload.adapter == "american_json":
        for game in json.loads(payload.body)["games"]:
            home, away = game["matchup"].split("-")
            names += [(LEAGUE_SPORTS[game["league"]], home), (LEAGUE_SPORTS[game["league"]], away)]
    elif payload.adapter == "delta_stream":
        for line in payload.body.decode().splitlines():
            message = json.loads(line)
            if message["type"] == "fixture":
                sport = WIRE_SPORTS[message["sport"].lower()]
                names += [(sport, message["home"]), (sport, message["away"])]
    else:
        for row in list(csv.reader(io.StringIO(payload.body.decode()), delimiter=";"))[1:]:
            sport = WIRE_SPORTS[row[2].lower()]
            names += [(sport, row[4]), (sport, row[5])]
    return names


def test_events_in_play_carry_their_match_state_through_the_pipeline(long_run: Run) -> None:
    from feeds.adapters import load_adapters
    from feeds.aliases import AliasBook
    from feeds.book import OddsBook
    from feeds.ingest import Ingestor
    from feeds.normalize import Normalizer

    book = OddsBook()
    ingestor = Ingestor(book, Normalizer(AliasBook.load()), load_adapters())
    for _, payload in long_run.payloads:
        result = ingestor.ingest(payload.adapter, payload.body, payload.source)
        assert result.rejected == [], result.rejected
    states = [e.state for e in book.events.values() if e.state is not None]
    assert states, "no event in play reported a match state"
    kinds = {i.type for s in states for i in s.incidents}
    # Goals (football, ice hockey), touchdowns and field goals, breaks of serve: each its sport's.
    assert kinds & {"goal", "touchdown", "field_goal", "break_of_serve"}
    assert all(s.period for s in states)
