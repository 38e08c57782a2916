"""Settled markets in the feed: a result, once its money has moved, marks the market settled in every
process's book (the pricing process emits the delta every interface serves); a rollback reopens it.

Processes tell each other through the broadcast; one that missed messages, or starts, reads the
results in force from the database.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from feeds.book import OddsBook
from feeds.broadcast import Broadcast
from schema.model import MarketResult
from store.bets import ResultRepository

log = logging.getLogger(__name__)
RESULTS_CHANNEL = "oddsgate.results"


def market_result(row: dict[str, Any]) -> MarketResult:
    """A result as `SettlementService` records and answers it."""
    created = row["created_at"]
    factor = row.get("dead_heat_factor")
    return MarketResult(
        str(row["id"]),
        tuple((str(o), str(r)) for o, r in row["outcomes"].items()),
        None if factor is None else Decimal(str(factor)),
        created if isinstance(created, datetime) else datetime.fromisoformat(created),
    )


class SettledMarkets:
    def __init__(self, book: OddsBook, broadcast: Broadcast, engine: AsyncEngine, *, lookback: float):
        self.book = book
        self.broadcast = broadcast
        self.engine = engine
        self.repository = ResultRepository()
        # Results older than this concern events long gone from the live book.
        self.lookback = timedelta(seconds=lookback)

    async def load(self) -> None:
        """The results in force recent enough to concern the live book, and only those."""
        since = datetime.now(UTC) - self.lookback
        async with self.engine.connect() as conn:
            rows = await self.repository.in_force_since(conn, since)
        in_force = {(str(r["event_id"]), str(r["market_id"])): market_result(r) for r in rows}
        for key in set(self.book.results) - set(in_force):
            self.book.settle(*key, None)
        for key, result in in_force.items():
            self.book.settle(*key, result)

    async def settled(self, row: dict[str, Any]) -> None:
        """A `SettlementService` observer: the market is settled with this result."""
        self.book.settle(row["event_id"], row["market_id"], market_result(row))
        self._share({"op": "settled", "result": _wire(row)})

    async def rolled_back(self, row: dict[str, Any]) -> None:
        """A `SettlementService` observer: the result was rolled back and the market reopens."""
        self.book.settle(row["event_id"], row["market_id"], None)
        self._share({"op": "reopened", "event_id": row["event_id"], "market_id": row["market_id"]})

    async def follow(self) -> None:
        """Apply what other processes settled or reopened (with Redis)."""
        await self.broadcast.follow(RESULTS_CHANNEL, self._apply, self.load)

    def _apply(self, raw: bytes) -> None:
        message = orjson.loads(raw)
        if message.get("op") == "settled":
            row = message["result"]
            self.book.settle(row["event_id"], row["market_id"], market_result(row))
        elif message.get("op") == "reopened":
            self.book.settle(str(message["event_id"]), str(message["market_id"]), None)

    def _share(self, message: dict[str, Any]) -> None:
        if self.broadcast.redis is not None:
            self.broadcast.publish(RESULTS_CHANNEL, orjson.dumps(message, option=orjson.OPT_UTC_Z))


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "event_id", "market_id", "outcomes", "dead_heat_factor", "created_at")
    return {key: row.get(key) for key in keys}
