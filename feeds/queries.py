"""Reading the live book: which events and markets a query selects, in a stable order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from feeds.aliases import alias_key
from feeds.audience import Audience
from feeds.book import EventState, OddsBook
from feeds.normalize import Normalizer
from schema.errors import InvalidRequest
from schema.model import Event, EventStatus, MarketType
from schema.visibility import EVERYTHING, Visibility


@dataclass(slots=True, frozen=True)
class EventQuery:
    sport: str | None = None
    league: str | None = None
    event_ids: frozenset[str] | None = None
    market_types: frozenset[MarketType] | None = None
    status: EventStatus | None = None
    live: bool | None = None
    limit: int = 100
    offset: int = 0
    visibility: Visibility = EVERYTHING


def find_events(book: OddsBook, query: EventQuery) -> tuple[list[Event], int]:
    """The page of matching events and the total count; with a market filter, events lacking
    every requested market are left out."""
    selected: list[Event] = []
    audience = Audience(book, query.visibility)
    states: Iterable[EventState]
    if query.event_ids is not None:
        states = [book.events[i] for i in query.event_ids if i in book.events]
    else:
        states = book.events.values()
    for state in states:
        info, status = state.info, state.status
        if query.sport is not None and info.sport != query.sport:
            continue
        if query.league is not None and info.league != query.league:
            continue
        if query.status is not None and status is not query.status:
            continue
        if query.live is not None and (status is EventStatus.LIVE) is not query.live:
            continue
        if not query.visibility.sees_event(info.sport, info.league):
            continue
        event = book.event(info.id)
        if event is None:
            continue
        event = audience.markets(event)
        if query.market_types is not None:
            event = only_markets(event, query.market_types)
            if not event.markets:
                continue
        selected.append(event)
    selected.sort(key=lambda e: (e.status is not EventStatus.LIVE, e.info.start_time, e.info.id))
    return selected[query.offset : query.offset + query.limit], len(selected)


def sport_and_league_filter(
    normalizer: Normalizer, sport_name: str | None, league_name: str | None
) -> tuple[str | None, str | None]:
    """Canonical sport and league filters. A sport that is also a league (`nfl`) narrows to that
    league; an unknown league is matched as written; a known league implies its sport."""
    sport = league = None
    if sport_name is not None:
        sport, implied = normalizer.sport_and_league(sport_name, None)
        league = implied or None
    if league_name is not None:
        known = normalizer.aliases.leagues.get(alias_key(league_name))
        if known is None:
            return sport, " ".join(league_name.split())
        if sport is not None and known[1] != sport:
            raise InvalidRequest(f"league {league_name!r} belongs to {known[1]}, not {sport}")
        league, sport = known
    return sport, league


def only_markets(event: Event, wanted: Iterable[MarketType | str]) -> Event:
    """Keep markets whose type or id is wanted (`spread` keeps every line, `spread:-3.5` one)."""
    keys = {w.value if isinstance(w, MarketType) else w for w in wanted}
    return replace(event, markets=tuple(m for m in event.markets if m.type.value in keys or m.id in keys))
