"""A client's bounded outgoing queue: in order while it keeps up, conflated per market when it
falls behind, and closed when it stays behind, so one slow client never grows memory."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

from feeds.conflate import ConflationKey, conflation_key, merge_deltas
from schema.model import Delta

T = TypeVar("T")


class SlowConsumer(Exception):
    """The client stayed behind longer than allowed."""


class Outbox(Generic[T]):
    """Items are what the client is sent (frames, or deltas for a resolver to turn into results);
    `render_conflated` turns a merged delta into one."""

    def __init__(
        self,
        maxsize: int,
        slow_after: float,
        render_conflated: Callable[[Delta], T],
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.maxsize = maxsize
        self.slow_after = slow_after
        self.render_conflated = render_conflated
        self.clock = clock
        # Created on first use and a future only while the consumer waits, rather than a deque and
        # an Event up front: an idle connection is mostly its outbox, and there may be 100,000.
        self._items: deque[T] | None = None
        self._waiter: asyncio.Future[None] | None = None
        # Falling behind, the latest state per market, in the order of each market's last change
        # (so per-event seq still only rises); control frames keep their place under their own keys.
        self._merged: OrderedDict[ConflationKey | int, tuple[Delta | None, T | None]] = OrderedDict()
        self._conflating_since: float | None = None
        self._control = 0
        self.closed: str | None = None
        self.conflated = 0
        # Called once with the reason when the outbox gives up on its client.
        self.on_close: Callable[[str], None] | None = None

    def __len__(self) -> int:
        return (len(self._items) if self._items else 0) + len(self._merged)

    def _append(self, frame: T) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(frame)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def push(self, delta: Delta, frame: T) -> None:
        if self.closed is not None:
            return
        if self._conflating_since is None and (self._items is None or len(self._items) < self.maxsize):
            self._append(frame)
        else:
            self._conflate(delta, frame)
        self._wake()

    def push_control(self, frame: T) -> None:
        """A frame that is never merged (a snapshot, a heartbeat, a notice); it keeps its order."""
        if self.closed is not None:
            return
        if len(self) >= self.maxsize * 8:
            # Control frames cannot be folded: a client that asks for them without reading is closed.
            self.close(f"client left more than {self.maxsize * 8} messages unread")
            return
        if self._conflating_since is None:
            self._append(frame)
        else:
            self._control += 1
            self._merged[self._control] = (None, frame)
        self._wake()

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            self._items = None
            self._merged.clear()
            self._wake()
            if self.on_close is not None:
                self.on_close(reason)

    async def get(self) -> T:
        while True:
            if self.closed is not None:
                raise SlowConsumer(self.closed)
            if self._items:
                item = self._items.popleft()
                if not self._items:
                    self._items = None
                return item
            if self._merged:
                _, (delta, frame) = self._merged.popitem(last=False)
                if not self._merged:
                    self._conflating_since = None
                if frame is not None:
                    return frame
                assert delta is not None
                return self.render_conflated(delta)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _conflate(self, delta: Delta, frame: T) -> None:
        now = self.clock()
        if self._conflating_since is None:
            self._conflating_since = now
        elif now - self._conflating_since > self.slow_after:
            self.close(f"client fell behind for more than {self.slow_after:g}s")
            return
        key = conflation_key(delta)
        older, _ = self._merged.pop(key, (None, None))
        if older is None:
            # Nothing merged (yet): the frame made for everyone still holds.
            self._merged[key] = (delta, frame)
        else:
            self._merged[key] = (merge_deltas(older, delta), None)
            self.conflated += 1
        if len(self._merged) > self.maxsize * 8:
            self.close(f"client fell more than {self.maxsize * 8} markets behind")
