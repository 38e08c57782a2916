"""Raised alerts, stored and listable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schema.visibility import EVERYTHING, Visibility
from store.tables import AlertRow, EventRow
from store.visible import sees_event

_TABLE = AlertRow.__table__  # type: ignore[attr-defined]
_EVENTS = EventRow.__table__  # type: ignore[attr-defined]


class AlertRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def append(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(_TABLE.insert(), list(rows))

    async def list(
        self,
        *,
        kind: str | None = None,
        event_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        visibility: Visibility = EVERYTHING,
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first. Only alerts `visibility` may see: on an event of its sports (the event's
        sport and league as the audit recorded them), or on no event at all (a source down)."""
        query = select(_TABLE)
        if visibility.sports is not None:
            query = query.outerjoin(_EVENTS, _EVENTS.c.id == _TABLE.c.event_id).where(
                or_(_TABLE.c.event_id.is_(None), sees_event(visibility, _EVENTS.c.sport, _EVENTS.c.league))
            )
        if kind is not None:
            query = query.where(_TABLE.c.kind == kind)
        if event_id is not None:
            query = query.where(_TABLE.c.event_id == event_id)
        if since is not None:
            query = query.where(_TABLE.c.raised_at >= since)
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            rows = await conn.execute(query.order_by(_TABLE.c.raised_at.desc()).limit(limit).offset(offset))
            return [dict(r) for r in rows.mappings()], total
