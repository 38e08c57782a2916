"""Who is calling and what their token allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth.errors import Forbidden

SCOPES = frozenset(
    {"odds:read", "odds:ingest", "odds:control", "bets:place", "bets:settle", "wallet:admin", "insights:read", "admin"}
)
ALL_SPORTS = "*"


@dataclass(slots=True, frozen=True)
class Principal:
    sub: str
    scopes: frozenset[str]
    sports: frozenset[str]
    region: str | None
    age_verified: bool
    rate_limit: str | None
    jti: str | None
    expires_at: datetime
    # Browser origins an embed token may be used from (its pages' Origin); None: any.
    origins: frozenset[str] | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise Forbidden(
                f"this token lacks the scope {scope!r} (it has: {', '.join(sorted(self.scopes)) or 'none'})"
            )

    @property
    def all_sports(self) -> bool:
        return ALL_SPORTS in self.sports
