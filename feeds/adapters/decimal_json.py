"""Vendor JSON with string decimal odds: `{"bookmaker", "events": [{..., "markets": [...]}]}`.

Each market of an event is one item; an event without markets is one status-only item. Every
item yields exactly one quote or rejection, so a fault in an event's own fields rejects each of
its markets, at the event's path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from decimal import Decimal

from feeds.adapters.base import (
    FieldError,
    Parsed,
    envelope,
    nested_quotes,
    parse_line,
    parse_time,
    require,
    required_text,
    split_matchup,
    text,
)
from feeds.match_wire import parse_state
from schema.errors import InvalidOdds
from schema.model import SourceQuote
from schema.odds import parse_decimal_odds

SEPARATORS = (" vs ", " v ", " - ")
SUSPENDED_PRICE = "SUSP"


class DecimalJsonAdapter:
    name = "decimal_json"
    media_type = "application/json"

    def parse(self, payload: bytes, source: str | None = None) -> Iterator[Parsed]:
        name, items = envelope(payload, source, "bookmaker", "events")
        return self.parse_events(name, items)

    def parse_events(self, source: str, events: list[object]) -> Iterator[Parsed]:
        return nested_quotes(
            source,
            events,
            events_key="events",
            keyed=False,
            markets_key="markets",
            read_event=parse_event,
            read_market=lambda event, _, market: parse_market(event, market),
        )


def parse_event(source: str, event: Mapping[str, object]) -> SourceQuote:
    """The event's own fields, as a status-only quote its markets are built from."""
    home, away = split_matchup(required_text(event, "name"), SEPARATORS)
    updated = parse_time(require(event, "updated"), "updated")
    return SourceQuote(
        source=source,
        sport=required_text(event, "sport"),
        league=text(event, "competition", optional=True),
        home_team=home,
        away_team=away,
        start_time=parse_time(require(event, "kickoff"), "kickoff"),
        status=text(event, "state", optional=True),
        market=None,
        line=None,
        prices=(),
        suspended=False,
        timestamp=updated,
        # This vendor's `state` is the event's status; the match state comes as `match`.
        state=parse_state(event.get("match"), updated),
    )


def parse_market(event: SourceQuote, market: object) -> SourceQuote:
    if not isinstance(market, dict):
        raise FieldError(f"market must be an object, got {type(market).__name__}")
    suspended = market.get("suspended", False)
    if not isinstance(suspended, bool):
        raise FieldError(f"'suspended' must be true or false, got {suspended!r}")
    selections = market.get("selections", [])
    if not isinstance(selections, list):
        raise FieldError(f"'selections' must be a list, got {type(selections).__name__}")
    if not selections and not suspended:
        raise FieldError("'selections' must not be empty unless the market is suspended")
    return dataclasses.replace(
        event,
        market=required_text(market, "name"),
        line=parse_line(market.get("handicap"), "handicap"),
        prices=tuple(parse_selection(position, selection) for position, selection in enumerate(selections)),
        suspended=suspended,
    )


def parse_selection(position: int, selection: object) -> tuple[str, Decimal | None]:
    if not isinstance(selection, dict):
        raise FieldError(f"selections[{position}] must be an object, got {type(selection).__name__}")
    try:
        name = required_text(selection, "name")
    except FieldError as exc:
        raise FieldError(f"selections[{position}]: {exc}") from None
    if "price" not in selection:
        raise FieldError(f"selections[{position}] ({name}): 'price' is required")
    price = selection["price"]
    if price is None or (isinstance(price, str) and price.strip().upper() == SUSPENDED_PRICE):
        return name, None
    try:
        return name, parse_decimal_odds(price)
    except InvalidOdds as exc:
        raise InvalidOdds(f"selections[{position}] ({name}): {exc.message}") from None


ADAPTER = DecimalJsonAdapter()
