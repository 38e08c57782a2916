"""The insight log and the scores of insights' probabilities against results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables import InsightRow, InsightScoreRow

_INSIGHTS = InsightRow.__table__  # type: ignore[attr-defined]
_SCORES = InsightScoreRow.__table__  # type: ignore[attr-defined]


class InsightRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def record(self, row: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(_INSIGHTS), [row])

    async def latest_per_generator(self, event_id: str) -> list[dict[str, Any]]:
        """The newest insight of each generator for an event."""
        newest = (
            select(_INSIGHTS.c.generator, func.max(_INSIGHTS.c.created_at).label("at"))
            .where(_INSIGHTS.c.event_id == event_id)
            .group_by(_INSIGHTS.c.generator)
            .subquery()
        )
        query = select(_INSIGHTS).join(
            newest, (newest.c.generator == _INSIGHTS.c.generator) & (newest.c.at == _INSIGHTS.c.created_at)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.where(_INSIGHTS.c.event_id == event_id))).mappings().all()
        return [dict(r) for r in rows]

    async def log(self, event_id: str, limit: int) -> list[dict[str, Any]]:
        query = select(_INSIGHTS).where(_INSIGHTS.c.event_id == event_id).order_by(_INSIGHTS.c.created_at.desc())
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query.limit(limit))).mappings()]

    async def add_scores(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(insert(_SCORES), list(rows))

    async def drop_scores(self, result_id: str) -> int:
        async with self.engine.begin() as conn:
            return (await conn.execute(delete(_SCORES).where(_SCORES.c.result_id == result_id))).rowcount

    async def scores(self, sport: str | None = None) -> list[dict[str, Any]]:
        query = select(_SCORES).order_by(_SCORES.c.id)
        if sport is not None:
            query = query.where(_SCORES.c.sport == sport)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]
