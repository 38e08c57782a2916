"""The delta stream: NDJSON messages carrying only what changed.

A `fixture` message describes a match and a `price` message one selection of one bookmaker's
market on it. Prices name only the match id, so an adapter instance remembers the fixtures it has
read, per source, as the parsed items are consumed; a price for a match whose fixture it has not
read is rejected. Each non-blank line is one item, and a line that is not JSON rejects only itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from feeds.adapters.base import (
    FieldError,
    Parsed,
    Rejection,
    parse_line,
    parse_time,
    require,
    required_text,
    text,
)
from schema.errors import InvalidOdds
from schema.model import SourceQuote
from schema.odds import parse_decimal_odds

MAX_FIXTURES = 100_000


@dataclass(slots=True, frozen=True)
class Fixture:
    sport: str
    league: str | None
    home_team: str
    away_team: str
    start_time: datetime


class DeltaStreamAdapter:
    name = "delta_stream"
    media_type = "application/x-ndjson"

    def __init__(
        self, clock: Callable[[], datetime] = lambda: datetime.now(UTC), max_fixtures: int = MAX_FIXTURES
    ) -> None:
        # Fixture messages carry no time of their own unless `ts` is sent; they are then as of now.
        self._clock = clock
        self._max_fixtures = max_fixtures
        # Least recently used first: a stream that runs for months must not keep every match it saw.
        self._fixtures: OrderedDict[tuple[str, str], Fixture] = OrderedDict()

    def parse(self, payload: bytes, source: str | None = None) -> Iterator[Parsed]:
        return self.parse_lines(source or self.name, payload.splitlines())

    def parse_lines(self, source: str, lines: list[bytes]) -> Iterator[Parsed]:
        index = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield self.parse_message(source, load_message(line))
            except (FieldError, InvalidOdds) as exc:
                yield Rejection(index, str(exc), path=f"line {number}", code=getattr(exc, "code", "INVALID_REQUEST"))
            index += 1

    def parse_message(self, source: str, message: Mapping[str, object]) -> SourceQuote:
        kind = message.get("type")
        if kind == "fixture":
            return self.parse_fixture(source, message)
        if kind == "price":
            return self.parse_price(source, message)
        raise FieldError(f"'type' must be 'fixture' or 'price', got {kind!r}")

    def parse_fixture(self, source: str, message: Mapping[str, object]) -> SourceQuote:
        key = (source, match_key(message))
        fixture = Fixture(
            sport=required_text(message, "sport"),
            league=text(message, "league", optional=True),
            home_team=required_text(message, "home"),
            away_team=required_text(message, "away"),
            start_time=parse_time(require(message, "start"), "start"),
        )
        status = text(message, "status", optional=True)
        ts = message.get("ts")
        timestamp = self._clock() if ts is None else parse_time(ts, "ts")
        self._fixtures[key] = fixture
        self._fixtures.move_to_end(key)
        if len(self._fixtures) > self._max_fixtures:
            self._fixtures.popitem(last=False)
        return SourceQuote(
            source=source,
            sport=fixture.sport,
            league=fixture.league,
            home_team=fixture.home_team,
            away_team=fixture.away_team,
            start_time=fixture.start_time,
            status=status,
            market=None,
            line=None,
            prices=(),
            suspended=False,
            timestamp=timestamp,
        )

    def parse_price(self, source: str, message: Mapping[str, object]) -> SourceQuote:
        match_id = match_key(message)
        fixture = self._fixtures.get((source, match_id))
        if fixture is None:
            raise FieldError(f"unknown match_id {match_id}: send its fixture first")
        self._fixtures.move_to_end((source, match_id))
        selection = required_text(message, "selection")
        suspended = message.get("suspended", False)
        if not isinstance(suspended, bool):
            raise FieldError(f"'suspended' must be true or false, got {suspended!r}")
        try:
            price = None if suspended else parse_decimal_odds(message.get("price"))
        except InvalidOdds as exc:
            raise InvalidOdds(f"selection {selection!r}: {exc.message}") from None
        return SourceQuote(
            source=f"{source}:{required_text(message, 'bookmaker_id')}",
            sport=fixture.sport,
            league=fixture.league,
            home_team=fixture.home_team,
            away_team=fixture.away_team,
            start_time=fixture.start_time,
            # A price message says nothing about the match's status.
            status=None,
            market=required_text(message, "market"),
            line=parse_line(message.get("line")),
            prices=((selection, price),),
            suspended=False,
            timestamp=parse_time(require(message, "ts"), "ts"),
        )


def load_message(line: bytes) -> Mapping[str, object]:
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise FieldError(f"line is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FieldError(f"message must be an object, got {type(message).__name__}")
    return message


def match_key(message: Mapping[str, object]) -> str:
    match_id = message.get("match_id")
    if isinstance(match_id, bool) or not isinstance(match_id, int | str) or not str(match_id).strip():
        raise FieldError(f"'match_id' must be an integer or a non-empty string, got {match_id!r}")
    # The same match may be sent as 5501 or "5501".
    return str(match_id).strip()


def make_adapter() -> DeltaStreamAdapter:
    """A new adapter with no fixtures: each stream connection keeps its own."""
    return DeltaStreamAdapter()
