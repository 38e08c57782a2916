"""Per-token rate limits on `limits` (the engine under slowapi), in memory or shared through Redis.

slowapi itself is not used: its Redis path is synchronous (it would block the event loop) and it
only decorates HTTP routes, while GraphQL operations and WebSocket messages must be charged too.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from auth.errors import RateLimited, Unauthenticated
from auth.principal import Principal

_POLICY = "token"
log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class RateState:
    limit: int
    window: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        """The IETF httpapi draft's fields (draft-ietf-httpapi-ratelimit-headers-08 and later)."""
        return {
            "RateLimit-Policy": f'"{_POLICY}";q={self.limit};w={self.window}',
            "RateLimit": f'"{_POLICY}";r={self.remaining};t={self.reset}',
        }


def parse_rate(text: str) -> RateLimitItem:
    """`600/minute`, `10/second`, `1000 per hour`; raises ValueError."""
    return parse(text)


class RateLimiter:
    def __init__(self, redis_url: str | None, default: str):
        self.default = parse_rate(default)
        uri = "async+memory://" if redis_url is None else "async+" + redis_url
        options = {} if redis_url is None else {"implementation": "redispy"}
        storage = storage_from_string(uri, **options)
        self._strategy = MovingWindowRateLimiter(storage)
        # While the shared store is unreachable each process counts on its own rather than refuse
        # or wave through everyone: the limit then holds per process.
        self._local = MovingWindowRateLimiter(storage_from_string("async+memory://"))
        self._shared = redis_url is not None
        self._warned_at = 0.0
        self._items: dict[str, RateLimitItem] = {}

    def limit_of(self, principal: Principal) -> RateLimitItem:
        if principal.rate_limit is None:
            return self.default
        item = self._items.get(principal.rate_limit)
        if item is None:
            try:
                item = parse_rate(principal.rate_limit)
            except ValueError:
                raise Unauthenticated(f"the token's rate_limit {principal.rate_limit!r} is not a rate") from None
            self._items[principal.rate_limit] = item
        return item

    async def charge(self, principal: Principal, cost: int = 1) -> RateState:
        """Take `cost` from the token's budget; raises RateLimited (with the state) when it is spent."""
        item = self.limit_of(principal)
        key = principal.jti or principal.sub
        try:
            allowed = await self._strategy.hit(item, "token", key, cost=cost)
            stats = await self._strategy.get_window_stats(item, "token", key)
        except Exception as exc:
            # Whatever the storage raised (its client's connection errors differ by backend).
            if not self._shared:
                raise
            self._warn(exc)
            allowed = await self._local.hit(item, "token", key, cost=cost)
            stats = await self._local.get_window_stats(item, "token", key)
        state = RateState(
            limit=item.amount,
            window=item.get_expiry(),
            remaining=max(0, stats.remaining),
            reset=max(0, math.ceil(stats.reset_time - time.time())),
        )
        if not allowed:
            raise RateLimited(
                f"rate limit of {item.amount} per {item.get_expiry()}s reached for this token; retry in {state.reset}s",
                retry_after=max(1, state.reset),
                state=state,
            )
        return state

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning("rate-limit store unreachable (%s); counting per process meanwhile", exc)
