"""Issued tokens and revocations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables import TokenRow


@dataclass(slots=True, frozen=True)
class TokenRecord:
    jti: str
    sub: str | None
    scopes: list[str]
    sports: list[str]
    region: str | None
    age_verified: bool | None
    rate_limit: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def record(self, claims: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                TokenRow.__table__.insert().values(  # type: ignore[attr-defined]
                    jti=claims["jti"],
                    sub=claims["sub"],
                    scopes=claims["scopes"],
                    sports=claims["sports"],
                    region=claims.get("region"),
                    age_verified=claims.get("age_verified"),
                    rate_limit=claims.get("rate_limit"),
                    issued_at=datetime.fromtimestamp(claims["iat"], UTC),
                    expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                )
            )

    async def revoke(self, jti: str, at: datetime | None = None) -> bool:
        """Revoke a jti; True when it was one of ours, False when only its revocation is recorded."""
        at = at or datetime.now(UTC)
        table = TokenRow.__table__  # type: ignore[attr-defined]
        async with self.engine.begin() as conn:
            result = await conn.execute(update(table).where(table.c.jti == jti).values(revoked_at=at))
            if result.rowcount:
                return True
            await conn.execute(table.insert().values(jti=jti, revoked_at=at))
            return False

    async def revoked(self, now: datetime | None = None) -> set[str]:
        """Revoked jtis that could still be presented (not known to have expired)."""
        now = now or datetime.now(UTC)
        table = TokenRow.__table__  # type: ignore[attr-defined]
        query = select(table.c.jti).where(
            table.c.revoked_at.is_not(None), (table.c.expires_at.is_(None)) | (table.c.expires_at > now)
        )
        async with self.engine.connect() as conn:
            return {row[0] for row in await conn.execute(query)}

    async def list(self) -> list[TokenRecord]:
        table = TokenRow.__table__  # type: ignore[attr-defined]
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).order_by(table.c.issued_at))
            return [
                TokenRecord(
                    r.jti,
                    r.sub,
                    r.scopes or [],
                    r.sports or [],
                    r.region,
                    r.age_verified,
                    r.rate_limit,
                    r.issued_at,
                    r.expires_at,
                    r.revoked_at,
                )
                for r in rows
            ]
