"""CMS shortcodes: `[odds event="..." markets="moneyline,spread" format="american"]` or
`[odds sport="nfl" live="true" limit="5"]`, read strictly and rendered as an escaped HTML fragment
that `/widget.js` can bring to life."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from feeds.normalize import Normalizer
from feeds.queries import sport_and_league_filter
from schema.errors import InvalidRequest
from schema.match import MatchState
from schema.model import Event, Market, MarketType
from schema.odds import formats
from schema.render import OddsFormat

_SHORTCODE = re.compile(r'\[odds((?:\s+[a-z_]+="[^"<>]*")*)\s*\]')
_ATTRIBUTE = re.compile(r'([a-z_]+)="([^"<>]*)"')
_EVENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,199}")
_MARKET = re.compile(r"[a-z0-9_]+(:-?[0-9]+(\.[0-9]+)?)?")
ATTRIBUTES = ("event", "markets", "format", "sport", "league", "live", "limit")
MAX_LIMIT = 20
_LABELS = {MarketType.MONEYLINE: "Moneyline", MarketType.THREE_WAY: "Match result", MarketType.SPREAD: "Spread"}


@dataclass(slots=True, frozen=True)
class Shortcode:
    event: str | None
    markets: tuple[str, ...] | None
    format: OddsFormat
    sport: str | None
    league: str | None
    live: bool | None
    limit: int


def parse_shortcode(code: str, normalizer: Normalizer) -> Shortcode:
    """Raises InvalidRequest saying what is wrong: the syntax, an unknown attribute, a bad value."""
    match = _SHORTCODE.fullmatch(code.strip())
    if match is None:
        raise InvalidRequest('a shortcode looks like [odds event="49ers-ravens-2026-03-23" format="american"]')
    values: dict[str, str] = {}
    for name, value in _ATTRIBUTE.findall(match.group(1)):
        if name not in ATTRIBUTES:
            raise InvalidRequest(f"unknown shortcode attribute {name!r} (known: {', '.join(ATTRIBUTES)})")
        if name in values:
            raise InvalidRequest(f"the shortcode names {name!r} twice")
        values[name] = value.strip()
    event = values.get("event")
    if event is not None and not _EVENT_ID.fullmatch(event):
        raise InvalidRequest(f"event={event!r} is not an event id")
    sport, league = values.get("sport"), values.get("league")
    if (event is None) == (sport is None and league is None):
        raise InvalidRequest("a shortcode names one event, or a sport or league to list")
    if sport is not None or league is not None:
        sport, league = sport_and_league_filter(normalizer, sport, league)
    markets = None
    if "markets" in values:
        markets = tuple(m.strip().lower() for m in values["markets"].split(",") if m.strip())
        for market in markets:
            if not _MARKET.fullmatch(market):
                raise InvalidRequest(f"markets: {market!r} is not a market (moneyline, spread, total:47.5)")
        markets = tuple(_market_name(normalizer, m) for m in markets)
    try:
        fmt = OddsFormat(values.get("format", "decimal").lower())
    except ValueError:
        raise InvalidRequest("format is decimal, american or fractional") from None
    live = values.get("live")
    if live is not None and live not in ("true", "false"):
        raise InvalidRequest('live is "true" or "false"')
    limit = values.get("limit", "5")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise InvalidRequest(f"limit is a whole number from 1 to {MAX_LIMIT}")
    return Shortcode(event, markets, fmt, sport, league, None if live is None else live == "true", int(limit))


def _market_name(normalizer: Normalizer, name: str) -> str:
    kind, _, line = name.partition(":")
    canonical = normalizer.market_type(kind).value
    return f"{canonical}:{line}" if line else canonical


def wanted_markets(event: Event, names: tuple[str, ...] | None) -> list[Market]:
    """The event's markets the shortcode asks for (by type or id), in the book's order; without a
    list, the match-winner market."""
    if names is None:
        winners = [m for m in event.markets if m.type in (MarketType.THREE_WAY, MarketType.MONEYLINE)]
        return winners[:1]
    return [m for m in event.markets if m.type.value in names or m.id in names]


def price(odds: Decimal, fmt: OddsFormat) -> str:
    decimal, american, fractional = formats(odds)
    if fmt is OddsFormat.AMERICAN:
        return american
    if fmt is OddsFormat.FRACTIONAL:
        return fractional
    return f"{decimal:.2f}"


def market_label(market: Market) -> str:
    if market.type is MarketType.TOTAL and market.line is not None:
        return f"Total {market.line.normalize():f}"
    label = _LABELS[market.type]
    return (
        f"{label} {market.line.normalize():+f}"
        if market.type is MarketType.SPREAD and market.line is not None
        else label
    )


def score(state: MatchState | None) -> str | None:
    return None if state is None else f"{state.home_score}-{state.away_score}"


class Fragments:
    """Renders fragments with autoescaping on: every value from a feed or a request is text."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(price=price, market_label=market_label, score=score)

    def events(self, code: Shortcode, events: list[Event], missing: list[str]) -> str:
        return self.env.get_template("odds.html.j2").render(
            code=code,
            events=[(e, wanted_markets(e, code.markets)) for e in events],
            missing=missing,
            listing=code.event is None,
        )
