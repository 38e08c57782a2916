"""Group commit: requests that arrive while a transaction is running are decided together in the
next one, so the cost of a transaction (round trips, commit) is shared by every request in it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A batch answers each request with its result, or with the exception that refused it alone.
Decide = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class GroupCommit(Generic[T, R]):
    """Feeds queued requests to `decide` in batches of at most `limit`, one batch at a time.

    The worker task lives only while requests are queued, so nothing outlives the event loop that
    made it. An exception raised by `decide` itself fails every request of that batch."""

    def __init__(self, decide: Decide[T, R], limit: int = 64):
        self._decide = decide
        self._limit = limit
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, request: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._limit], self._queue[self._limit :]
                try:
                    answers = await self._decide([request for request, _ in batch])
                except asyncio.CancelledError:
                    for _, future in (*batch, *self._queue):
                        future.cancel()
                    self._queue = []
                    raise
                except Exception as exc:
                    answers = [exc] * len(batch)
                for (_, future), answer in zip(batch, answers, strict=True):
                    if future.done():
                        continue
                    if isinstance(answer, BaseException):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)
        finally:
            self._worker = None
