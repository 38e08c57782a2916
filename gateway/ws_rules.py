"""Close codes and per-connection limits shared by both WebSocket endpoints."""

from __future__ import annotations

import time

from limits import RateLimitItem

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
# Too many messages or subscriptions on one connection.
CLOSE_RATE = 4429


class ConnectionRate:
    """One connection's message rate, counted here: it guards this process, whatever the token."""

    def __init__(self, rate: RateLimitItem):
        self.amount = rate.amount
        self.window = float(rate.get_expiry())
        self.started = time.monotonic()
        self.count = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self.started >= self.window:
            self.started, self.count = now, 0
        self.count += 1
        return self.count <= self.amount
