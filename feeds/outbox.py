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
        self._items: deque[T] = deque()
        # Falling behind, the latest state per market, in the order of each market's last change
        # (so per-event seq still only rises); control frames keep their place under their own keys.
        self._merged: OrderedDict[ConflationKey | int, tuple[Delta | None, T | None]] = OrderedDict()
        self._conflating_since: float | None = None
        self._control = 0
        self._ready = asyncio.Event()
        self.closed: str | None = None
        self.conflated = 0
        # Called once with the reason when the outbox gives up on its client.
        self.on_close: Callable[[str], None] | None = None

    def __len__(self) -> int:
        return len(self._items) + len(self._merged)

    def push(self, delta: Delta, frame: T) -> None:
        if self.closed is not None:
            return
        if self._conflating_since is None and len(self._items) < self.maxsize:
            self._items.append(frame)
        else:
            self._conflate(delta, frame)
        self._ready.set()

    def push_control(self, frame: T) -> None:
        """A frame that is never merged (a snapshot, a heartbeat, a notice); it keeps its order."""
        if self.closed is not None:
            return
        if len(self) >= self.maxsize * 8:
            # Control frames cannot be folded: a client that asks for them without reading is closed.
            self.close(f"client left more than {self.maxsize * 8} messages unread")
            return
        if self._conflating_since is None:
            self._items.append(frame)
        else:
            self._control += 1
            self._merged[self._control] = (None, frame)
        self._ready.set()

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            self._items.clear()
            self._merged.clear()
            self._ready.set()
            if self.on_close is not None:
                self.on_close(reason)

    async def get(self) -> T:
        while True:
            if self.closed is not None:
                raise SlowConsumer(self.closed)
            if self._items:
                return self._items.popleft()
            if self._merged:
                _, (delta, frame) = self._merged.popitem(last=False)
                if not self._merged:
                    self._conflating_since = None
                if frame is not None:
                    return frame
                assert delta is not None
                return self.render_conflated(delta)
            self._ready.clear()
            await self._ready.wait()

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
