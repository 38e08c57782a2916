"""Vendor JSON with American odds: `{"provider", "games": [{..., "lines": {market: {...}}}]}`.

Each entry of a game's `lines` is one item: its `line` key is the handicap or total and every
other key a selection. A game with no lines is one status-only item. Every item yields exactly
one quote or rejection, so a fault in a game's own fields rejects each of its lines, at the
game's path.
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
    text,
)
from feeds.match_wire import parse_state
from schema.errors import InvalidOdds
from schema.model import SourceQuote
from schema.odds import parse_american_odds

SUSPENDED_PRICE = "OFF"


class AmericanJsonAdapter:
    name = "american_json"
    media_type = "application/json"

    def parse(self, payload: bytes, source: str | None = None) -> Iterator[Parsed]:
        name, items = envelope(payload, source, "provider", "games")
        return self.parse_games(name, items)

    def parse_games(self, source: str, games: list[object]) -> Iterator[Parsed]:
        return nested_quotes(
            source,
            games,
            events_key="games",
            keyed=True,
            markets_key="lines",
            read_event=parse_game,
            read_market=lambda game, name, quote: parse_market(game, str(name), quote),
        )


def parse_game(source: str, game: Mapping[str, object]) -> SourceQuote:
    """The game's own fields, as a status-only quote its lines are built from."""
    home, away = split_abbreviations(required_text(game, "matchup"))
    league = required_text(game, "league")
    as_of = parse_time(require(game, "as_of"), "as_of")
    return SourceQuote(
        source=source,
        # The feed has no sport field; the normalizer knows which sport a league belongs to.
        sport=league,
        league=league,
        home_team=home,
        away_team=away,
        start_time=parse_time(require(game, "start"), "start"),
        status=text(game, "status", optional=True),
        market=None,
        line=None,
        prices=(),
        suspended=False,
        timestamp=as_of,
        state=parse_state(game.get("state"), as_of),
    )


def split_abbreviations(matchup: str) -> tuple[str, str]:
    """(home, away) from 'SFO-BAL' (home first) or 'BAL@SFO' (away first)."""
    dash, at = matchup.find("-"), matchup.find("@")
    if at != -1 and (dash == -1 or at < dash):
        away, _, home = matchup.partition("@")
    else:
        home, _, away = matchup.partition("-")
    home, away = home.strip(), away.strip()
    if not home or not away:
        raise FieldError(f"'matchup' {matchup!r} is not of the form 'HOME-AWAY' or 'AWAY@HOME'")
    return home, away


def parse_market(game: SourceQuote, market: str, quote: object) -> SourceQuote:
    if not isinstance(quote, dict):
        raise FieldError(f"lines.{market} must be an object, got {type(quote).__name__}")
    prices = tuple(parse_selection(label, price) for label, price in quote.items() if label != "line")
    if not prices:
        raise FieldError(f"lines.{market} has no selections")
    return dataclasses.replace(
        game,
        market=market,
        line=parse_line(quote.get("line"), f"lines.{market}.line"),
        prices=prices,
    )


def parse_selection(label: str, price: object) -> tuple[str, Decimal | None]:
    if price is None or (isinstance(price, str) and price.strip().upper() == SUSPENDED_PRICE):
        return label, None
    try:
        return label, parse_american_odds(price)
    except InvalidOdds as exc:
        raise InvalidOdds(f"selection {label!r}: {exc.message}") from None


ADAPTER = AmericanJsonAdapter()
