"""Bets, idempotency keys and exposure; every function runs in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from store.tables import BetRow, ExposureRow, IdempotencyRow, MarketResultRow, MarketSettlementRow
from store.types import cents

_BETS = BetRow.__table__  # type: ignore[attr-defined]
_KEYS = IdempotencyRow.__table__  # type: ignore[attr-defined]
_EXPOSURE = ExposureRow.__table__  # type: ignore[attr-defined]


class BetRepository:
    async def idempotent(self, conn: AsyncConnection, sub: str, key: str) -> dict[str, Any] | None:
        row = (await conn.execute(select(_KEYS).where(_KEYS.c.sub == sub, _KEYS.c.key == key))).mappings().first()
        return None if row is None else dict(row)

    async def remember(
        self,
        conn: AsyncConnection,
        sub: str,
        key: str,
        request_hash: str,
        status: int,
        response: dict[str, Any],
        at: datetime,
    ) -> None:
        await conn.execute(
            _KEYS.insert().values(
                sub=sub, key=key, request_hash=request_hash, status=status, response=response, created_at=at
            )
        )

    async def add(self, conn: AsyncConnection, row: dict[str, Any]) -> None:
        await conn.execute(_BETS.insert().values(**row))

    async def get(self, conn: AsyncConnection, bet_id: str) -> dict[str, Any] | None:
        row = (await conn.execute(select(_BETS).where(_BETS.c.id == bet_id))).mappings().first()
        return None if row is None else dict(row)

    async def of(self, conn: AsyncConnection, sub: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        query = select(_BETS).where(_BETS.c.sub == sub)
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await conn.execute(query.order_by(_BETS.c.accepted_at.desc()).limit(limit).offset(offset))
        return [dict(r) for r in rows.mappings()], total

    async def user_today(self, conn: AsyncConnection, sub: str, since: datetime) -> tuple[int, Decimal]:
        """Bets placed since `since`, and what settled ones lost in that time."""
        rows = await conn.execute(
            select(_BETS.c.stake, _BETS.c.payout, _BETS.c.status).where(
                _BETS.c.sub == sub, _BETS.c.accepted_at >= since
            )
        )
        count, lost = 0, Decimal("0.00")
        for row in rows:
            count += 1
            if row.status == "settled":
                lost += max(Decimal(0), cents(row.stake) - cents(row.payout or 0))
        return count, lost

    async def exposure(self, conn: AsyncConnection, event_id: str, market_id: str) -> dict[str, Decimal]:
        rows = await conn.execute(
            select(_EXPOSURE.c.outcome_id, _EXPOSURE.c.liability).where(
                _EXPOSURE.c.event_id == event_id, _EXPOSURE.c.market_id == market_id
            )
        )
        return {row.outcome_id: cents(row.liability) for row in rows}

    async def add_exposure(
        self, conn: AsyncConnection, event_id: str, market_id: str, outcome_id: str, stake: Decimal, liability: Decimal
    ) -> None:
        await move_exposure(conn, event_id, market_id, outcome_id, stake, liability, 1)

    async def all_exposure(self, conn: AsyncConnection) -> list[dict[str, Any]]:
        rows = await conn.execute(select(_EXPOSURE).order_by(_EXPOSURE.c.event_id, _EXPOSURE.c.market_id))
        return [
            {**dict(r), "stakes": str(cents(r["stakes"])), "liability": str(cents(r["liability"]))}
            for r in rows.mappings()
        ]


_RESULTS = MarketResultRow.__table__  # type: ignore[attr-defined]
_SETTLED = MarketSettlementRow.__table__  # type: ignore[attr-defined]


class ResultRepository:
    async def in_force(self, conn: AsyncConnection, event_id: str, market_id: str) -> dict[str, Any] | None:
        row = (
            (
                await conn.execute(
                    select(_RESULTS)
                    .join(_SETTLED, _SETTLED.c.result_id == _RESULTS.c.id)
                    .where(_SETTLED.c.event_id == event_id, _SETTLED.c.market_id == market_id)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    async def claim(self, conn: AsyncConnection, row: dict[str, Any]) -> None:
        """Record the result and claim the market; a second claim fails on the key (IntegrityError)."""
        await conn.execute(
            _SETTLED.insert().values(event_id=row["event_id"], market_id=row["market_id"], result_id=row["id"])
        )
        await conn.execute(_RESULTS.insert().values(**row))

    async def get(self, conn: AsyncConnection, result_id: str) -> dict[str, Any] | None:
        row = (await conn.execute(select(_RESULTS).where(_RESULTS.c.id == result_id))).mappings().first()
        return None if row is None else dict(row)

    async def totals(self, conn: AsyncConnection, result_id: str, bets: int, paid: Decimal) -> None:
        await conn.execute(update(_RESULTS).where(_RESULTS.c.id == result_id).values(bets=bets, paid=paid))

    async def release(self, conn: AsyncConnection, result_id: str, at: datetime) -> None:
        await conn.execute(_SETTLED.delete().where(_SETTLED.c.result_id == result_id))
        await conn.execute(update(_RESULTS).where(_RESULTS.c.id == result_id).values(rolled_back_at=at))


async def open_bets(conn: AsyncConnection, event_id: str, market_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(_BETS).where(_BETS.c.event_id == event_id, _BETS.c.market_id == market_id, _BETS.c.status == "open")
    )
    return [dict(r) for r in rows.mappings()]


async def settled_by(conn: AsyncConnection, result_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(select(_BETS).where(_BETS.c.status == "settled", _BETS.c.result_id == result_id))
    return [dict(r) for r in rows.mappings()]


async def mark(conn: AsyncConnection, bet_id: str, **values: Any) -> None:
    await conn.execute(update(_BETS).where(_BETS.c.id == bet_id).values(**values))


async def move_exposure(
    conn: AsyncConnection, event_id: str, market_id: str, outcome_id: str, stake: Decimal, liability: Decimal, bets: int
) -> None:
    """Add to (or, with negative amounts, take from) the house's position on one outcome."""
    key = (_EXPOSURE.c.event_id == event_id, _EXPOSURE.c.market_id == market_id, _EXPOSURE.c.outcome_id == outcome_id)
    current = (await conn.execute(select(_EXPOSURE).where(*key))).mappings().first()
    if current is None:
        await conn.execute(
            _EXPOSURE.insert().values(
                event_id=event_id,
                market_id=market_id,
                outcome_id=outcome_id,
                stakes=stake,
                liability=liability,
                bets=bets,
            )
        )
        return
    await conn.execute(
        update(_EXPOSURE)
        .where(*key)
        .values(
            stakes=cents(current["stakes"]) + stake,
            liability=cents(current["liability"]) + liability,
            bets=current["bets"] + bets,
        )
    )


async def settled_bets(conn: AsyncConnection, sub: str | None = None) -> list[dict[str, Any]]:
    query = select(_BETS.c.sport, _BETS.c.market_id, _BETS.c.stake, _BETS.c.payout, _BETS.c.result).where(
        _BETS.c.status == "settled"
    )
    if sub is not None:
        query = query.where(_BETS.c.sub == sub)
    return [dict(r) for r in (await conn.execute(query)).mappings()]
