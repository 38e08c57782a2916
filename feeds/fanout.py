"""Every delta of the live book, handed to this process's clients.

Deltas this process prices come straight from its book; the others arrive through the process's
one broadcast subscription (Redis), where the hub keeps each event's sequence contiguous (repairing
gaps from Redis) and feeds the local replica of the book. Either way the hub keeps the resume
history and hands the delta to the listeners registered for its event or sport. Listeners only
enqueue into their own bounded outboxes, so a slow client costs nobody else anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, Protocol, TypeVar

import orjson
from redis.exceptions import RedisError

from feeds.book import OddsBook
from feeds.broadcast import GAP, Broadcast, Overflowed
from feeds.history import DeltaHistory
from feeds.live_store import RedisLiveStore
from feeds.outbox import Outbox
from feeds.publish import DELTAS_CHANNEL
from schema.model import Delta
from schema.parse import delta_from_json, event_from_json

log = logging.getLogger(__name__)
T = TypeVar("T")
_RETRY_FIRST = 0.05
_RETRY_MAX = 2.0


@dataclass(slots=True)
class Published:
    """A delta as it arrived, with each wire rendering of it made once and shared by every client."""

    delta: Delta
    payload: bytes
    _frames: dict[object, bytes] = field(default_factory=dict)

    def frame(self, render: Callable[[Delta], bytes]) -> bytes:
        cached = self._frames.get(render)
        if cached is None:
            cached = self._frames[render] = render(self.delta)
        return cached


class Listener(Protocol):
    def deliver(self, item: Published) -> None: ...

    def reset(self, event_id: str) -> None:
        """Deltas of this event were lost to this process; the listener resynchronises from a snapshot."""


@dataclass(slots=True)
class HubStats:
    dispatched: int = 0
    repaired: int = 0
    resets: int = 0


class Hub:
    def __init__(
        self,
        broadcast: Broadcast,
        book: OddsBook,
        *,
        history_size: int = 512,
        store: RedisLiveStore | None = None,
        queue_size: int = 65536,
    ):
        self.broadcast = broadcast
        self.book = book
        self.store = store
        self.history = DeltaHistory(history_size)
        self.queue_size = queue_size
        self.stats = HubStats()
        self.seen: dict[str, int] = {}
        self._everything: set[Listener] = set()
        self._by_event: dict[str, set[Listener]] = {}
        self._by_sport: dict[str, set[Listener]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Across processes (Redis), subscribe and catch up; in one process every delta is local."""
        if self.store is None:
            return
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(ready), name="delta-hub")
        await ready

    def accept_local(self, delta: Delta, payload: bytes) -> None:
        """A delta this process priced: handed out at once, in the book's order, never decoded."""
        if delta.seq > self.seen.get(delta.event_id, 0):
            self._accept(delta, payload, absorb=False)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- listeners -----------------------------------------------------------------------------

    def listen(self, listener: Listener, events: Iterable[str] = (), sports: Iterable[str] = ()) -> None:
        """Deltas of these events and sports; with neither, every delta."""
        events, sports = list(events), list(sports)
        if not events and not sports:
            self._everything.add(listener)
        for event_id in events:
            self._by_event.setdefault(event_id, set()).add(listener)
        for sport in sports:
            self._by_sport.setdefault(sport, set()).add(listener)

    def unlisten(self, listener: Listener) -> None:
        self._everything.discard(listener)
        for index in (self._by_event, self._by_sport):
            for key in [k for k, members in index.items() if listener in members]:
                members = index[key]
                members.discard(listener)
                if not members:
                    del index[key]

    def prune(self) -> None:
        """Forget the sequence and history of events that have left the book."""
        for event_id in [e for e in self.seen if e not in self.book.events]:
            del self.seen[event_id]
            self.history.forget(event_id)

    def since(self, event_id: str, seq: int) -> list[Delta] | None:
        """What a client that last saw `seq` of this event missed, or None if that is too old."""
        return self.history.since(event_id, seq, self.seen.get(event_id, 0))

    # -- the stream ----------------------------------------------------------------------------

    async def _run(self, ready: asyncio.Future[None]) -> None:
        while True:
            try:
                async with self.broadcast.subscribe(DELTAS_CHANNEL, self.queue_size) as subscription:
                    # Subscribed first, then caught up: nothing published in between is lost.
                    await self._retrying(self._catch_up)
                    if not ready.done():
                        ready.set_result(None)
                    async for message in subscription:
                        if message == GAP:
                            await self._retrying(self._catch_up)
                        else:
                            # Idempotent: a retry after a failed repair skips what it already took.
                            await self._retrying(partial(self._receive, message))
            except Overflowed:
                # Subscribed again and caught up from Redis, which kept what the queue could not.
                log.warning("the delta hub fell behind its subscription; catching up from Redis")

    async def _retrying(self, work: Callable[[], Awaitable[None]]) -> None:
        """Redis being away only delays a catch-up or a repair: it is retried, never skipped, since
        skipping would hand clients a gap. Later messages wait in the bounded subscription meanwhile."""
        delay = _RETRY_FIRST
        while True:
            try:
                await work()
                return
            except (RedisError, OSError) as exc:
                log.warning("reading the live book from Redis failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _receive(self, payload: bytes) -> None:
        body = orjson.loads(payload)
        if self.book.owns(body["event_id"]):
            # Our own delta coming back: it was handed out when it was made.
            return
        delta = delta_from_json(body)
        last = self.seen.get(delta.event_id, 0)
        if delta.seq <= last:
            return
        if delta.seq != last + 1:
            await self._repair(delta.event_id, delta.seq)
            if delta.seq <= self.seen.get(delta.event_id, 0):
                return
        self._accept(delta, payload)

    def _accept(self, delta: Delta, payload: bytes, absorb: bool = True) -> None:
        self.seen[delta.event_id] = delta.seq
        if absorb:
            self.book.absorb(delta)
        self.history.add(delta)
        item = Published(delta, payload)
        self.stats.dispatched += 1
        targets = self._by_event.get(delta.event_id)
        by_sport = self._by_sport.get(delta.sport)
        if by_sport:
            targets = by_sport if not targets else targets | by_sport
        if self._everything:
            targets = self._everything if not targets else targets | self._everything
        if targets:
            for listener in tuple(targets):
                listener.deliver(item)

    async def _repair(self, event_id: str, upto: int) -> None:
        """Fill the gap before `upto` from the Redis history, or else from the latest snapshot."""
        if self.store is not None:
            for body in await self.store.history(event_id):
                delta = delta_from_json(orjson.loads(body))
                if delta.seq == self.seen.get(event_id, 0) + 1 and delta.seq < upto:
                    self._accept(delta, body)
                    self.stats.repaired += 1
            if self.seen.get(event_id, 0) + 1 >= upto:
                return
            snapshot = await self.store.snapshot(event_id)
            if snapshot is not None:
                event = event_from_json(orjson.loads(snapshot))
                if event.seq > self.seen.get(event_id, 0):
                    self.book.restore(event)
                    self.seen[event_id] = event.seq
        if upto - 1 > self.seen.get(event_id, 0):
            # Nothing holds what was missed: the next delta is taken as is, and clients resync.
            self.seen[event_id] = upto - 1
        self._reset(event_id)

    async def _catch_up(self) -> None:
        """Take whatever Redis holds that this process has not seen: at start, and after pub/sub was lost."""
        if self.store is None:
            return
        for body in await self.store.snapshots():
            event = event_from_json(orjson.loads(body))
            # A snapshot only seeds events this process has never seen; the others catch up delta by delta.
            if event.info.id not in self.seen:
                self.book.restore(event)
                self.seen[event.info.id] = event.seq
        for event_id, entries in (await self.store.histories()).items():
            for body in entries:
                delta = delta_from_json(orjson.loads(body))
                last = self.seen.get(event_id, 0)
                if delta.seq == last + 1:
                    self._accept(delta, body)
                    self.stats.repaired += 1
                elif delta.seq > last + 1:
                    await self._repair(event_id, delta.seq)
                    if delta.seq == self.seen.get(event_id, 0) + 1:
                        self._accept(delta, body)

    def _reset(self, event_id: str) -> None:
        self.stats.resets += 1
        self.history.forget(event_id)
        for listener in tuple(self._listeners_of(event_id)):
            listener.reset(event_id)

    def _listeners_of(self, event_id: str) -> set[Listener]:
        state = self.book.events.get(event_id)
        listeners = set(self._everything) | self._by_event.get(event_id, set())
        if state is not None:
            listeners |= self._by_sport.get(state.info.sport, set())
        return listeners


class OutboxListener(Generic[T]):
    """Hands the deltas a filter selects to one client's outbox, rendered for that client."""

    def __init__(self, selects: Callable[[Delta], bool], outbox: Outbox[T], render: Callable[[Published], T]):
        self.selects = selects
        self.outbox = outbox
        self.render = render

    def deliver(self, item: Published) -> None:
        if self.selects(item.delta):
            self.outbox.push(item.delta, self.render(item))

    def reset(self, event_id: str) -> None:
        del event_id
