"""Which markets exist, so a result can only settle a market that was offered."""

from __future__ import annotations

from feeds.book import OddsBook
from store.audit import AuditRepository


class KnownMarkets:
    """A market exists while the live book has it, and for good once the audit has served it."""

    def __init__(self, book: OddsBook, audit: AuditRepository):
        self.book = book
        self.audit = audit

    async def exists(self, event_id: str, market_id: str) -> bool:
        state = self.book.events.get(event_id)
        if state is not None and market_id in state.markets:
            return True
        return await self.audit.has_market(event_id, market_id)
