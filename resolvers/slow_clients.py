"""Closing a WebSocket whose client fell behind, even while a send to it is blocked."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.websockets import WebSocket

from feeds.outbox import Outbox

SLOW_CONSUMER_CLOSE = 4008
# The close frame queues behind what the client has not read; a client that reads again gets it.
_CLOSE_WAIT = 5.0
# The event loop keeps only weak references to tasks; the closes in flight are kept here.
_closing: set[asyncio.Task[None]] = set()


class SlowClientGuard:
    """When the outbox gives up on its client, stops the task sending to it (it may be stuck in a
    send that waits for a client that does not read) and closes the socket with 4008."""

    def __init__(self, outbox: Outbox[Any], socket: WebSocket):
        self.socket = socket
        self.sender = asyncio.current_task()
        self.closing: asyncio.Task[None] | None = None
        outbox.on_close = self._give_up

    def _give_up(self, reason: str) -> None:
        if self.sender is not None:
            self.sender.cancel()
        self.closing = asyncio.get_running_loop().create_task(self._close(reason))
        _closing.add(self.closing)
        self.closing.add_done_callback(_closing.discard)

    async def _close(self, reason: str) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_WAIT):
                await self.socket.close(code=SLOW_CONSUMER_CLOSE, reason=reason[:120])

    async def wait_closed(self) -> None:
        if self.closing is not None:
            await self.closing
