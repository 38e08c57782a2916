"""What a bettor was shown before their bet: the compliance question answered in one call.

The bet's record holds the price its audience was shown, its flags, sources, the overrides in force,
the region and age claims. The market as that audience was served it at placement comes from the
audit, where every audience's prices are recorded as served (never recomputed now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from betting.placement import stored_bet
from feeds.audience import viewed
from schema import text
from schema.bets import Bet
from schema.errors import NotFound
from schema.model import Market
from schema.render import market_json
from schema.visibility import Visibility
from store.audit import AuditRepository
from store.bets import BetRepository


@dataclass(slots=True, frozen=True)
class BetContext:
    bet: Bet
    # The bet's record: price, flags, sources, overrides, region and age claims at placement.
    context: dict[str, Any]
    accepted_at: datetime
    view: str | None
    # The market as the bettor's audience was served it at placement; None if the audit lacks it.
    shown: Market | None
    seq: int | None

    def json(self) -> dict[str, Any]:
        """The contract's shape: the bet, the price and market its audience was shown, the sources
        and the overrides in force."""
        record = self.context
        return {
            "bet": self.bet.json(),
            "accepted_at": self.accepted_at,
            "audience": record.get("audience"),
            "region": record.get("region"),
            "age_verified": record.get("age_verified"),
            "price": {key: record.get(key) for key in _PRICE},
            "sources": record.get("sources"),
            "overrides": record.get("overrides"),
            "held_seconds": record.get("held_seconds"),
            "shown": {"seq": self.seq, "market": None if self.shown is None else market_json(self.shown)},
        }


_PRICE = ("book_odds", "odds_updated_at", "flags", "source_count", "margin", "seq", "epoch")


class BetContexts:
    def __init__(self, engine: AsyncEngine, audit: AuditRepository):
        self.engine = engine
        self.audit = audit
        self.bets = BetRepository()

    async def of(self, bet_id: str, visibility: Visibility) -> BetContext:
        """NotFound for a bet outside the caller's sports, as for one that does not exist."""
        bet_id = text.record_id(bet_id)
        async with self.engine.connect() as conn:
            row = await self.bets.get(conn, bet_id)
        if row is None or not visibility.overlaps(row["sport"], ""):
            raise NotFound(f"no bet {bet_id!r}")
        context = dict(row["context"] or {})
        audience = context.get("audience") or {}
        view = audience.get("view")
        accepted_at: datetime = row["accepted_at"]
        event = await self.audit.event_at(row["event_id"], accepted_at, row["market_id"], view=view)
        if event is not None and not visibility.sees_event(event.info.sport, event.info.league):
            raise NotFound(f"no bet {bet_id!r}")
        market = next((m for m in event.markets if m.id == row["market_id"]), None) if event is not None else None
        shown = None if market is None else viewed(market, view)
        return BetContext(stored_bet(row), context, accepted_at, view, shown, None if event is None else event.seq)
