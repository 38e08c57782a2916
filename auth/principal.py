"""Who is calling and what their token allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth.errors import Forbidden

SCOPES = frozenset(
    {
        "odds:read",
        "odds:ingest",
        "odds:control",
        "bets:place",
        "bets:settle",
        "wallet:admin",
        "insights:read",
        "webhooks:manage",
        "admin",
    }
)
ALL_SPORTS = "*"
# Registering, listing and removing webhooks and reading their deliveries: a CMS partner's own
# scope, or a trader's. Either one will do.
MANAGE_WEBHOOKS = ("webhooks:manage", "odds:control")

# One scope, or several of which any one will do.
Scopes = str | tuple[str, ...]


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

    def require(self, scope: Scopes) -> None:
        wanted = (scope,) if isinstance(scope, str) else scope
        if not any(self.has_scope(s) for s in wanted):
            named = " or ".join(repr(s) for s in wanted)
            raise Forbidden(f"this token lacks the scope {named} (it has: {', '.join(sorted(self.scopes)) or 'none'})")

    @property
    def all_sports(self) -> bool:
        return ALL_SPORTS in self.sports
