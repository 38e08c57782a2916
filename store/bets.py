"""Bets, idempotency keys and exposure; every function runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.visibility import EVERYTHING, Visibility
from store.rows import save_rows
from store.tables import (
    BetRow,
    EventRow,
    ExposureRow,
    IdempotencyRow,
    MarketResultRow,
    MarketSettlementRow,
    UserDayRow,
)
from store.types import cents
from store.visible import sees_event

_BETS = BetRow.__table__  # type: ignore[attr-defined]
_KEYS = IdempotencyRow.__table__  # type: ignore[attr-defined]
_EXPOSURE = ExposureRow.__table__  # type: ignore[attr-defined]
_DAYS = UserDayRow.__table__  # type: ignore[attr-defined]
_EVENTS = EventRow.__table__  # type: ignore[attr-defined]


# An outcome's exposure line, keyed by (event_id, market_id, outcome_id).
ExposureKey = tuple[str, str, str]


@dataclass(slots=True, frozen=True)
class ExposureLine:
    stakes: Decimal
    liability: Decimal
    bets: int

    def moved(self, stake: Decimal, liability: Decimal, bets: int) -> ExposureLine:
        return ExposureLine(self.stakes + stake, self.liability + liability, self.bets + bets)


NO_EXPOSURE = ExposureLine(Decimal("0.00"), Decimal("0.00"), 0)


class BetRepository:
    async def idempotent(self, conn: AsyncConnection, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The stored answers for these (sub, key) pairs, by pair."""
        rows = await conn.execute(select(_KEYS).where(tuple_(_KEYS.c.sub, _KEYS.c.key).in_(list(pairs))))
        return {(row["sub"], row["key"]): dict(row) for row in rows.mappings()}

    async def remember(self, conn: AsyncConnection, answers: list[dict[str, Any]]) -> None:
        """Store first answers: dicts of sub, key, request_hash, status, response, created_at."""
        await conn.execute(_KEYS.insert(), answers)

    async def add(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        await conn.execute(_BETS.insert(), rows)

    async def get(self, conn: AsyncConnection, bet_id: str) -> dict[str, Any] | None:
        row = (await conn.execute(select(_BETS).where(_BETS.c.id == bet_id))).mappings().first()
        return None if row is None else dict(row)

    async def of(self, conn: AsyncConnection, sub: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        query = select(_BETS).where(_BETS.c.sub == sub)
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await conn.execute(query.order_by(_BETS.c.accepted_at.desc()).limit(limit).offset(offset))
        return [dict(r) for r in rows.mappings()], total

    async def all_exposure(self, conn: AsyncConnection, visibility: Visibility = EVERYTHING) -> list[dict[str, Any]]:
        """Every outcome's line; only on events `visibility` sees (their sport and league as the
        audit recorded them)."""
        query = select(_EXPOSURE)
        if visibility.sports is not None:
            query = query.outerjoin(_EVENTS, _EVENTS.c.id == _EXPOSURE.c.event_id).where(
                sees_event(visibility, _EVENTS.c.sport, _EVENTS.c.league)
            )
        rows = await conn.execute(query.order_by(_EXPOSURE.c.event_id, _EXPOSURE.c.market_id))
        return [
            {**dict(r), "stakes": str(cents(r["stakes"])), "liability": str(cents(r["liability"]))}
            for r in rows.mappings()
        ]


async def exposure_of(conn: AsyncConnection, markets: Collection[tuple[str, str]]) -> dict[ExposureKey, ExposureLine]:
    """The exposure lines of every outcome of these (event_id, market_id) markets."""
    rows = await conn.execute(select(_EXPOSURE).where(_EXPOSURE.c.event_id.in_({event for event, _ in markets})))
    return {
        (row.event_id, row.market_id, row.outcome_id): ExposureLine(cents(row.stakes), cents(row.liability), row.bets)
        for row in rows
        if (row.event_id, row.market_id) in markets
    }


async def save_exposure(
    conn: AsyncConnection, before: dict[ExposureKey, ExposureLine], after: dict[ExposureKey, ExposureLine]
) -> None:
    """Write the lines that changed since `before` was read, in the same transaction."""
    await save_rows(
        conn,
        _EXPOSURE,
        ("event_id", "market_id", "outcome_id"),
        {
            k: {"stakes": v.stakes, "liability": v.liability, "bets": v.bets}
            for k, v in after.items()
            if before.get(k) != v
        },
        before,
    )


def day_of(at: datetime) -> str:
    """The UTC day the daily limits count a bet on."""
    return at.astimezone(UTC).date().isoformat()


async def user_days(
    conn: AsyncConnection, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """(bets placed, lost by the settled ones) per (sub, day); absent when the user has none that day."""
    rows = await conn.execute(
        select(_DAYS).where(_DAYS.c.sub.in_({sub for sub, _ in keys}), _DAYS.c.day.in_({day for _, day in keys}))
    )
    return {(r.sub, r.day): (r.bets, cents(r.lost)) for r in rows if (r.sub, r.day) in keys}


async def save_days(
    conn: AsyncConnection,
    before: dict[tuple[str, str], tuple[int, Decimal]],
    after: dict[tuple[str, str], tuple[int, Decimal]],
) -> None:
    """Write the (sub, day) counters that changed since `before` was read, in the same transaction."""
    changed = {k: {"bets": bets, "lost": lost} for k, (bets, lost) in after.items() if before.get(k) != (bets, lost)}
    await save_rows(conn, _DAYS, ("sub", "day"), changed, before)


async def move_days(conn: AsyncConnection, moves: dict[tuple[str, str], tuple[int, Decimal]]) -> None:
    """Add (bets, lost) to each (sub, day)."""
    if not moves:
        return
    before = await user_days(conn, moves)
    after = {}
    for key, (bets, lost) in moves.items():
        count, lost_before = before.get(key, (0, Decimal("0.00")))
        after[key] = (count + bets, lost_before + lost)
    await save_days(conn, before, after)


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

    async def in_force_since(self, conn: AsyncConnection, since: datetime) -> list[dict[str, Any]]:
        """The results in force that were recorded at or after `since`."""
        rows = await conn.execute(
            select(_RESULTS).join(_SETTLED, _SETTLED.c.result_id == _RESULTS.c.id).where(_RESULTS.c.created_at >= since)
        )
        return [dict(r) for r in rows.mappings()]

    async def settled_markets(
        self, conn: AsyncConnection, markets: Collection[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of these (event_id, market_id) markets have a result in force."""
        rows = await conn.execute(
            select(_SETTLED.c.event_id, _SETTLED.c.market_id).where(
                _SETTLED.c.event_id.in_({event for event, _ in markets})
            )
        )
        return {(event, market) for event, market in rows if (event, market) in markets}

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


async def has_bets(conn: AsyncConnection, event_id: str, market_id: str) -> bool:
    """Whether any bet, open or settled, was ever taken on this market."""
    found = await conn.execute(
        select(_BETS.c.id).where(_BETS.c.event_id == event_id, _BETS.c.market_id == market_id).limit(1)
    )
    return found.first() is not None


async def settled_by(conn: AsyncConnection, result_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(select(_BETS).where(_BETS.c.status == "settled", _BETS.c.result_id == result_id))
    return [dict(r) for r in rows.mappings()]


async def mark_bets(conn: AsyncConnection, changes: dict[str, dict[str, Any]]) -> None:
    """Set columns of bets by id; every bet's change names the same columns."""
    keys = {(bet_id,) for bet_id in changes}
    await save_rows(conn, _BETS, ("id",), {(bet_id,): values for bet_id, values in changes.items()}, keys)


async def move_exposure(conn: AsyncConnection, moves: dict[ExposureKey, ExposureLine]) -> None:
    """Add each line's amounts to (negative ones take from) the house's position on that outcome."""
    if not moves:
        return
    before = await exposure_of(conn, {(event, market) for event, market, _ in moves})
    after = {key: before.get(key, NO_EXPOSURE).moved(m.stakes, m.liability, m.bets) for key, m in moves.items()}
    await save_exposure(conn, before, after)


async def settled_bets(
    conn: AsyncConnection, sub: str | None = None, visibility: Visibility = EVERYTHING
) -> list[dict[str, Any]]:
    """Settled bets (of `sub`, or everyone's): only on events `visibility` sees, by the bet's sport
    and the event's league as the audit recorded it."""
    query = select(_BETS.c.sport, _BETS.c.market_id, _BETS.c.stake, _BETS.c.payout, _BETS.c.result).where(
        _BETS.c.status == "settled"
    )
    if sub is not None:
        query = query.where(_BETS.c.sub == sub)
    if visibility.sports is not None:
        query = query.outerjoin(_EVENTS, _EVENTS.c.id == _BETS.c.event_id).where(
            sees_event(visibility, _BETS.c.sport, _EVENTS.c.league)
        )
    return [dict(r) for r in (await conn.execute(query)).mappings()]
