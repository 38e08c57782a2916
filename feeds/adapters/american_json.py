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
    Rejection,
    load_json,
    parse_line,
    parse_time,
    require,
    required_text,
    text,
)
from schema.errors import InvalidOdds, InvalidRequest
from schema.model import SourceQuote
from schema.odds import parse_american_odds

SUSPENDED_PRICE = "OFF"


class AmericanJsonAdapter:
    name = "american_json"
    media_type = "application/json"

    def parse(self, payload: bytes, source: str | None = None) -> Iterator[Parsed]:
        body = load_json(payload)
        if not isinstance(body, dict):
            raise InvalidRequest("body must be an object with 'provider' and 'games'")
        name = body.get("provider")
        if name is None:
            name = source
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("'provider' must be a non-empty string (or pass a source)")
        games = body.get("games")
        if not isinstance(games, list):
            raise InvalidRequest("'games' must be a list of games")
        return self.parse_games(name.strip(), games)

    def parse_games(self, source: str, games: list[object]) -> Iterator[Parsed]:
        index = 0
        for position, game in enumerate(games):
            path = f"games[{position}]"
            if not isinstance(game, dict):
                yield Rejection(index, f"game must be an object, got {type(game).__name__}", path=path)
                index += 1
                continue
            lines = game.get("lines")
            if lines is None:
                lines = {}
            if not isinstance(lines, dict):
                yield Rejection(index, f"'lines' must be an object, got {type(lines).__name__}", path=path)
                index += 1
                continue
            try:
                status_only = parse_game(source, game)
            except FieldError as exc:
                for _ in range(max(len(lines), 1)):
                    yield Rejection(index, str(exc), path=path)
                    index += 1
                continue
            if not lines:
                yield status_only
                index += 1
                continue
            for market, quote in lines.items():
                try:
                    yield parse_market(status_only, market, quote)
                except (FieldError, InvalidOdds) as exc:
                    yield Rejection(
                        index,
                        str(exc),
                        path=f"{path}.lines.{market}",
                        code=getattr(exc, "code", "INVALID_REQUEST"),
                    )
                index += 1


def parse_game(source: str, game: Mapping[str, object]) -> SourceQuote:
    """The game's own fields, as a status-only quote its lines are built from."""
    home, away = split_abbreviations(required_text(game, "matchup"))
    league = required_text(game, "league")
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
        timestamp=parse_time(require(game, "as_of"), "as_of"),
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
