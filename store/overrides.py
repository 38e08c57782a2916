"""Trader actions: overrides and their rollbacks, with who, why, when, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schema.visibility import EVERYTHING, Visibility
from store.tables import EventRow, OverrideRow
from store.visible import overlaps, sees_event

_TABLE = OverrideRow.__table__  # type: ignore[attr-defined]
_EVENTS = EventRow.__table__  # type: ignore[attr-defined]


class OverrideRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def record(
        self, row: dict[str, Any], ended: Sequence[str], at: datetime, resumed: Sequence[str] = ()
    ) -> None:
        """One action in one transaction: its row, the overrides it ends and those it puts back."""
        async with self.engine.begin() as conn:
            await conn.execute(_TABLE.insert().values(**row))
            if ended:
                await conn.execute(update(_TABLE).where(_TABLE.c.id.in_(ended)).values(active=False, ended_at=at))
            if resumed:
                await conn.execute(update(_TABLE).where(_TABLE.c.id.in_(resumed)).values(active=True, ended_at=None))

    async def get(self, override_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_TABLE).where(_TABLE.c.id == override_id))).mappings().first()
            return None if row is None else dict(row)

    async def active(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(_TABLE).where(_TABLE.c.active.is_(True)).order_by(_TABLE.c.created_at))
            return [dict(r) for r in rows.mappings()]

    async def history(
        self,
        *,
        active: bool | None = None,
        sport: str | None = None,
        event_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        visibility: Visibility = EVERYTHING,
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first. Only actions whose scope `visibility` sees: an event's (its sport and league
        as the audit recorded them), or any of a sport's (or league's)."""
        query = select(_TABLE)
        if visibility.sports is not None:
            query = query.outerjoin(_EVENTS, _EVENTS.c.id == _TABLE.c.event_id).where(
                or_(
                    and_(_TABLE.c.event_id.is_not(None), sees_event(visibility, _EVENTS.c.sport, _EVENTS.c.league)),
                    and_(_TABLE.c.event_id.is_(None), overlaps(visibility, _TABLE.c.sport, _TABLE.c.league)),
                )
            )
        for column, value in (("sport", sport), ("event_id", event_id), ("actor", actor), ("action", action)):
            if value is not None:
                query = query.where(_TABLE.c[column] == value)
        if active is not None:
            query = query.where(_TABLE.c.active.is_(active))
        if since is not None:
            query = query.where(_TABLE.c.created_at >= since)
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            rows = await conn.execute(query.order_by(_TABLE.c.created_at.desc()).limit(limit).offset(offset))
            return [dict(r) for r in rows.mappings()], total
