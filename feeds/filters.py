"""Which deltas a subscription wants: by event, sport, league and market type."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from feeds.audience import offered, tells_of_event
from feeds.book import OddsBook
from feeds.normalize import Normalizer
from feeds.queries import sport_and_league_filter
from schema.model import Delta, EventInfo, MarketType
from schema.visibility import EVERYTHING, Visibility


@dataclass(slots=True, frozen=True)
class DeltaFilter:
    event_ids: frozenset[str] | None = None
    sport: str | None = None
    league: str | None = None
    market_types: frozenset[MarketType] | None = None
    # What the caller may see at all: applied to every delta, whatever else the filter says.
    visibility: Visibility = EVERYTHING

    @classmethod
    def of(
        cls,
        normalizer: Normalizer,
        event_ids: Iterable[str] | None = None,
        sport: str | None = None,
        markets: Iterable[str] | None = None,
        visibility: Visibility = EVERYTHING,
    ) -> DeltaFilter:
        """Raises InvalidRequest for an unknown sport or market."""
        canonical_sport, league = sport_and_league_filter(normalizer, sport, None) if sport else (None, None)
        return cls(
            frozenset(event_ids) if event_ids is not None else None,
            canonical_sport,
            league,
            frozenset(normalizer.market_type(m) for m in markets) if markets is not None else None,
            visibility,
        )

    def matches(self, delta: Delta, book: OddsBook) -> bool:
        if self.event_ids is not None and delta.event_id not in self.event_ids:
            return False
        if self.sport is not None and delta.sport != self.sport:
            return False
        if self.league or self.visibility.sports is not None:
            state = book.events.get(delta.event_id)
            league = state.info.league if state is not None else ""
            if self.league and league != self.league:
                return False
            if not self.visibility.sees_event(delta.sport, league):
                return False
        market_type = delta.market_type
        if not offered(book, delta, self.visibility) and not tells_of_event(delta):
            return False
        # Event-level deltas (status, description) concern every market of the event.
        return self.market_types is None or market_type is None or market_type in self.market_types

    def covers(self, info: EventInfo) -> bool:
        """Whether this filter selects the event at all (its markets aside)."""
        if self.event_ids is not None and info.id not in self.event_ids:
            return False
        if self.sport is not None and info.sport != self.sport:
            return False
        if self.league and info.league != self.league:
            return False
        return self.visibility.sees_event(info.sport, info.league)

    def index(self) -> tuple[Iterable[str], Iterable[str]]:
        """The events and sports to register with the hub for this filter."""
        if self.event_ids is not None:
            return self.event_ids, ()
        if self.sport is not None:
            return (), (self.sport,)
        if self.visibility.sports is not None:
            return (), sorted({sport for sport, _ in self.visibility.sports})
        return (), ()
