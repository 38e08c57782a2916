"""Registered webhooks and the log of their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables import DeliveryRow, WebhookRow

_HOOKS = WebhookRow.__table__  # type: ignore[attr-defined]
_DELIVERIES = DeliveryRow.__table__  # type: ignore[attr-defined]


class WebhookRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def add(self, row: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_HOOKS.insert().values(**row))

    async def deactivate(self, webhook_id: str, owner: str | None = None) -> bool:
        """False when there is no such active webhook (of `owner`, when one is named)."""
        query = update(_HOOKS).where(_HOOKS.c.id == webhook_id, _HOOKS.c.active.is_(True))
        if owner is not None:
            query = query.where(_HOOKS.c.owner == owner)
        async with self.engine.begin() as conn:
            result = await conn.execute(query.values(active=False))
            return bool(result.rowcount)

    async def active(self, owner: str | None = None) -> list[dict[str, Any]]:
        query = select(_HOOKS).where(_HOOKS.c.active.is_(True))
        if owner is not None:
            query = query.where(_HOOKS.c.owner == owner)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(_HOOKS.c.created_at))
            return [dict(r) for r in rows.mappings()]

    async def owned(self, webhook_id: str, owner: str | None = None) -> bool:
        """Whether the webhook exists (active or not) and, when `owner` is named, is theirs."""
        query = select(_HOOKS.c.id).where(_HOOKS.c.id == webhook_id)
        if owner is not None:
            query = query.where(_HOOKS.c.owner == owner)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def record_delivery(self, row: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_DELIVERIES.insert().values(**row))

    async def update_delivery(
        self, delivery_id: str, status: str, attempts: int, error: str | None, finished_at: datetime | None
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(_DELIVERIES)
                .where(_DELIVERIES.c.id == delivery_id)
                .values(status=status, attempts=attempts, last_error=error, finished_at=finished_at)
            )

    async def deliveries(
        self, webhook_id: str, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        query = select(_DELIVERIES).where(_DELIVERIES.c.webhook_id == webhook_id)
        if status is not None:
            query = query.where(_DELIVERIES.c.status == status)
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            rows = await conn.execute(query.order_by(_DELIVERIES.c.created_at.desc()).limit(limit).offset(offset))
            return [dict(r) for r in rows.mappings()], total
