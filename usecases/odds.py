"""Reading odds: the live book's events, one event, an event as it was, and the sources' health.
Every door (REST, GraphQL, the CMS) calls these; each is what the caller's audience is shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from auth.access import AccessControl
from auth.principal import Principal
from feeds.audience import Audience
from feeds.book import OddsBook
from feeds.normalize import Normalizer
from feeds.queries import EventQuery, find_events, only_markets, sport_and_league_filter
from feeds.source_board import SourceBoard
from schema.errors import NotFound
from schema.model import Event, MarketType
from schema.paging import Page, Paged
from schema.sources import SourceStatus
from schema.times import query_time
from store.audit import AuditRepository

READ = "odds:read"


@dataclass(slots=True, frozen=True)
class EventFilter:
    """What a listing selects; names as clients write them (`nfl`, `spread`, `live`)."""

    sport: str | None = None
    league: str | None = None
    event_ids: frozenset[str] | None = None
    markets: tuple[str, ...] | None = None
    status: str | None = None
    live: bool | None = None


class OddsReading:
    def __init__(
        self,
        book: OddsBook,
        normalizer: Normalizer,
        access: AccessControl,
        audit: AuditRepository,
        sources: SourceBoard,
    ):
        self.book = book
        self.normalizer = normalizer
        self.access = access
        self.audit = audit
        self.board = sources

    def audience(self, principal: Principal, scope: str = READ) -> Audience:
        """The caller admitted to `scope`, and what it is shown of the live book."""
        self.access.admit(principal, scope)
        return Audience(self.book, self.access.visibility(principal))

    def events(self, principal: Principal, selected: EventFilter, page: Page) -> Paged[Event]:
        """Live first, then by start time; with a market filter, events lacking every one are left out."""
        audience = self.audience(principal)
        sport, league = sport_and_league_filter(self.normalizer, selected.sport, selected.league)
        query = EventQuery(
            sport=sport,
            league=league,
            event_ids=selected.event_ids,
            market_types=self.market_types(selected.markets),
            status=self.normalizer.status(selected.status) if selected.status else None,
            live=selected.live,
            limit=page.limit,
            offset=page.offset,
            visibility=audience.visibility,
        )
        events, total = find_events(self.book, query)
        return Paged(events, total, page)

    def event(self, principal: Principal, event_id: str, markets: tuple[str, ...] | None = None) -> Event:
        """One event as the caller is shown it (NOT_FOUND when it cannot see it)."""
        event = self.audience(principal).event(event_id)
        if markets is not None:
            event = only_markets(event, self.market_types(markets) or ())
        return event

    def find(self, principal: Principal, event_id: str, markets: tuple[str, ...] | None = None) -> Event | None:
        """One event as the caller is shown it, or None where `event` would say NOT_FOUND."""
        try:
            return self.event(principal, event_id, markets)
        except NotFound:
            return None

    async def history(
        self, principal: Principal, event_id: str, at: datetime | None = None, market: str | None = None
    ) -> tuple[datetime, Event]:
        """The event as the caller's audience was served it at `at` (default now), from the audit."""
        audience = self.audience(principal)
        at = query_time(at, "at") or datetime.now(UTC)
        event = await self.audit.event_at(event_id, at, view=audience.view)
        if event is None:
            raise NotFound(f"event {event_id!r} has no audited odds at or before {at.isoformat()}")
        event = audience.shown(event)
        if market is not None:
            event = only_markets(event, [market if ":" in market else self.normalizer.market_type(market)])
        return at, event

    def sources(self, principal: Principal) -> list[SourceStatus]:
        """Every source the book has heard from, by name."""
        self.access.admit(principal, READ)
        now = self.book.clock()
        return [
            SourceStatus(
                source=s.name,
                up=s.up,
                last_seen=datetime.fromtimestamp(s.last_seen, UTC),
                silent_seconds=round(now - s.last_seen, 3),
                updates=s.updates,
                accuracy_weight=self.book.consensus.weight(s.name),
            )
            for s in self.board.health()
        ]

    def market_types(self, names: tuple[str, ...] | None) -> frozenset[MarketType] | None:
        return None if names is None else frozenset(self.normalizer.market_type(n) for n in names)
