"""Raised alerts, stored and listable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables import AlertRow

_TABLE = AlertRow.__table__  # type: ignore[attr-defined]


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
    ) -> tuple[list[dict[str, Any]], int]:
        query = select(_TABLE)
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
