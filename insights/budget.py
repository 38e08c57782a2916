"""One budget of language-model calls for the whole deployment, on `limits` (shared through Redis
when there is one), so a burst of events cannot run up the bill."""

from __future__ import annotations

import logging

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger(__name__)


class LLMBudget:
    def __init__(self, rate: str, redis_url: str | None = None):
        self.rate = parse(rate)
        uri = "async+memory://" if redis_url is None else "async+" + redis_url
        options = {} if redis_url is None else {"implementation": "redispy"}
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri, **options))

    def describe(self) -> str:
        return f"{self.rate.amount} per {self.rate.get_expiry()}s"

    async def take(self) -> bool:
        """Whether one more call fits; an unreachable store counts as spent (the heuristic answers)."""
        try:
            return await self._limiter.hit(self.rate, "llm", "calls")
        except Exception as exc:
            # Whatever the storage raised: its client's connection errors differ by backend.
            log.warning("LLM budget store unreachable (%s); answering with the heuristic", exc)
            return False
