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
from typing import Any, Protocol

import orjson
from redis.exceptions import RedisError

from feeds.book import OddsBook
from feeds.broadcast import GAP, Broadcast, Overflowed
from feeds.cancellation import stop_if_cancelled
from feeds.history import DeltaHistory
from feeds.live_store import RedisLiveStore
from feeds.publish import DELTAS_CHANNEL
from schema.model import Delta, Event
from schema.parse import delta_from_json, event_from_json

log = logging.getLogger(__name__)
_RETRY_FIRST = 0.05
_RETRY_MAX = 2.0
# A queue that has items hands them over without yielding; a backlog is worked through in slices
# this long, so clients' writers, HTTP requests and health checks run in between.
_YIELD_EVERY = 64


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
        # The epoch of the run of each event's sequence this process follows.
        self.epochs: dict[str, str] = {}
        self._everything: set[Listener] = set()
        self._by_event: dict[str, set[Listener]] = {}
        self._by_sport: dict[str, set[Listener]] = {}
        self._keys: dict[Listener, tuple[bool, set[str], set[str]]] = {}
        # Events whose replica missed deltas nothing could replay: healed from the next snapshot.
        self._stale: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Across processes (Redis), subscribe and catch up; in one process every delta is local."""
        if self.store is None:
            return
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks = [
            asyncio.create_task(self._supervised(ready), name="delta-hub"),
            asyncio.create_task(self._heal(), name="delta-hub-heal"),
        ]
        await ready

    def accept_local(self, delta: Delta, payload: bytes) -> None:
        """A delta this process priced: handed out at once, in the book's order, never decoded."""
        if self.epochs.get(delta.event_id, delta.epoch) != delta.epoch:
            # The book started the event over (it had left the book): listeners start over too.
            self._forget(delta.event_id)
            self._reset(delta.event_id, delta.sport)
        if delta.seq > self.seen.get(delta.event_id, 0):
            self._accept(delta, payload, absorb=False)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- listeners -----------------------------------------------------------------------------

    def listen(self, listener: Listener, events: Iterable[str] = (), sports: Iterable[str] = ()) -> None:
        """Deltas of these events and sports (added to what it listens to); with neither, every delta."""
        events, sports = list(events), list(sports)
        everything, known_events, known_sports = self._keys.get(listener, (False, set(), set()))
        if not events and not sports:
            self._everything.add(listener)
            everything = True
        for event_id in events:
            self._by_event.setdefault(event_id, set()).add(listener)
        for sport in sports:
            self._by_sport.setdefault(sport, set()).add(listener)
        self._keys[listener] = (everything, known_events | set(events), known_sports | set(sports))

    def unlisten(self, listener: Listener) -> None:
        # Only the listener's own keys are touched: leaving costs nothing to anyone else.
        _, events, sports = self._keys.pop(listener, (False, set(), set()))
        self._everything.discard(listener)
        for index, keys in ((self._by_event, events), (self._by_sport, sports)):
            for key in keys:
                members = index.get(key)
                if members is not None:
                    members.discard(listener)
                    if not members:
                        del index[key]

    def prune(self) -> None:
        """Forget the sequence and history of events that have left the book."""
        for event_id in [e for e in self.seen if e not in self.book.events]:
            self._forget(event_id)

    def since(self, event_id: str, seq: int, epoch: str | None = None) -> list[Delta] | None:
        """What a client that last saw `seq` of this event missed, or None if that is too old, or
        when it counted in another epoch (`epoch`, when the client gives it): then nothing it
        missed can be told apart from what it never saw."""
        if epoch is not None and self.epochs.get(event_id) != epoch:
            return None
        return self.history.since(event_id, seq, self.seen.get(event_id, 0))

    def _forget(self, event_id: str) -> None:
        self.seen.pop(event_id, None)
        self.epochs.pop(event_id, None)
        self.history.forget(event_id)

    # -- the stream ----------------------------------------------------------------------------

    async def _supervised(self, ready: asyncio.Future[None]) -> None:
        while True:
            try:
                await self._run(ready)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not silently end every client's stream: log, subscribe again, catch up.
                log.exception("the delta hub failed; subscribing again")
                await asyncio.sleep(_RETRY_MAX)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        while True:
            try:
                async with self.broadcast.subscribe(DELTAS_CHANNEL, self.queue_size) as subscription:
                    # Subscribed first, then caught up: nothing published in between is lost.
                    await self._retrying(self._catch_up)
                    if not ready.done():
                        ready.set_result(None)
                    handled = 0
                    async for message in subscription:
                        handled += 1
                        if handled % _YIELD_EVERY == 0:
                            await asyncio.sleep(0)
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
                stop_if_cancelled()
                log.warning("reading the live book from Redis failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _receive(self, payload: bytes) -> None:
        body = _loads(payload)
        if body is None or self.book.owns(body.get("event_id", "")):
            # Unreadable, or our own delta coming back: it was handed out when it was made.
            return
        delta = _delta(body)
        if delta is None:
            return
        if self.epochs.get(delta.event_id, delta.epoch) != delta.epoch:
            await self._restart(delta, payload)
            return
        last = self.seen.get(delta.event_id, 0)
        if delta.seq <= last:
            return
        if delta.seq != last + 1:
            await self._repair(delta.event_id, delta.seq, delta.epoch, delta.sport)
            if delta.seq <= self.seen.get(delta.event_id, 0):
                return
        self._accept(delta, payload)

    async def _restart(self, delta: Delta, payload: bytes) -> None:
        """The owner's sequence of this event started over (a new epoch: its pricer restarted
        without the old state). Nothing of the old run follows on: the replica takes the new run
        from Redis (history or snapshot) without handing it out, and listeners resynchronise."""
        event_id = delta.event_id
        self.book.events.pop(event_id, None)
        self._forget(event_id)
        self._stale.discard(event_id)
        await self._repair(event_id, delta.seq, delta.epoch, delta.sport, hand_out=False)
        if delta.seq == self.seen.get(event_id, 0) + 1:
            self._accept(delta, payload)

    def _accept(self, delta: Delta, payload: bytes, absorb: bool = True, hand_out: bool = True) -> None:
        self.seen[delta.event_id] = delta.seq
        self.epochs[delta.event_id] = delta.epoch
        if absorb:
            self.book.absorb(delta)
        self.history.add(delta)
        if not hand_out:
            return
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

    async def _repair(self, event_id: str, upto: int, epoch: str, sport: str, *, hand_out: bool = True) -> None:
        """Fill the gap before `upto` (of run `epoch`) from the Redis history, or else from the
        latest snapshot; what cannot be filled is a reset for the event's listeners."""
        if self.store is not None:
            for body in await self.store.history(event_id):
                delta = _delta(_loads(body))
                if (
                    delta is not None
                    and delta.epoch == epoch
                    and delta.seq == self.seen.get(event_id, 0) + 1
                    and delta.seq < upto
                ):
                    self._accept(delta, body, hand_out=hand_out)
                    self.stats.repaired += 1
            if hand_out and self.seen.get(event_id, 0) + 1 >= upto:
                return
            event = _event(_loads(await self.store.snapshot(event_id)))
            if event is not None and event.epoch == epoch and event.seq > self.seen.get(event_id, 0):
                self.book.restore(event)
                self.seen[event_id], self.epochs[event_id] = event.seq, epoch
        if upto - 1 > self.seen.get(event_id, 0):
            # Nothing holds what was missed (Redis lost it): go on from the next delta so clients
            # keep getting prices, and take the whole event from the owner's next snapshot.
            self.seen[event_id], self.epochs[event_id] = upto - 1, epoch
            self.book.rebase(event_id, upto - 1)
            self._stale.add(event_id)
        self._reset(event_id, sport)

    async def _catch_up(self) -> None:
        """Take whatever Redis holds that this process has not seen: at start, and after pub/sub was lost."""
        if self.store is None:
            return
        for body in await self.store.snapshots():
            event = _event(_loads(body))
            # A snapshot only seeds events this process has never seen; the others catch up delta by delta.
            if event is not None and event.info.id not in self.seen:
                self.book.restore(event)
                self.seen[event.info.id] = event.seq
                self.epochs[event.info.id] = self.book.events[event.info.id].epoch
        for event_id, entries in (await self.store.histories()).items():
            run = [(delta, body) for body in entries if (delta := _delta(_loads(body))) is not None]
            if not run:
                continue
            # The list may hold an older run before the current one: only the current one counts.
            epoch = run[-1][0].epoch
            run = [(delta, body) for delta, body in run if delta.epoch == epoch]
            if self.epochs.get(event_id, epoch) != epoch:
                first, body = run.pop(0)
                await self._restart(first, body)
            for delta, body in run:
                last = self.seen.get(event_id, 0)
                if delta.seq == last + 1:
                    self._accept(delta, body)
                    self.stats.repaired += 1
                elif delta.seq > last + 1:
                    await self._repair(event_id, delta.seq, delta.epoch, delta.sport)
                    if delta.seq == self.seen.get(event_id, 0) + 1:
                        self._accept(delta, body)

    async def _heal(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(1.0)
            for event_id in list(self._stale):
                try:
                    event = _event(_loads(await self.store.snapshot(event_id)))
                except (RedisError, OSError):
                    break
                same_run = event is not None and event.epoch == self.epochs.get(event_id)
                if event is None or (same_run and event.seq < self.seen.get(event_id, 0)):
                    continue
                self.book.restore(event, replace_equal=True)
                self.seen[event_id], self.epochs[event_id] = event.seq, event.epoch
                self._stale.discard(event_id)
                self._reset(event_id, event.info.sport)

    def _reset(self, event_id: str, sport: str | None = None) -> None:
        self.stats.resets += 1
        self.history.forget(event_id)
        for listener in tuple(self._listeners_of(event_id, sport)):
            listener.reset(event_id)

    def _listeners_of(self, event_id: str, sport: str | None) -> set[Listener]:
        """Everyone who may hear of the event: by id, by sport (given, since the replica may not
        know the event yet), or everything."""
        state = self.book.events.get(event_id)
        listeners = set(self._everything) | self._by_event.get(event_id, set())
        sports = {sport} if sport is not None else set()
        if state is not None:
            sports.add(state.info.sport)
        for name in sports:
            listeners |= self._by_sport.get(name, set())
        return listeners


def _loads(payload: bytes | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        log.error("dropped an unreadable message: %r", payload[:200])
        return None
    return body if isinstance(body, dict) else None


def _delta(body: dict[str, Any] | None) -> Delta | None:
    if body is None:
        return None
    try:
        return delta_from_json(body)
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        # A delta this version cannot read (say, from a newer one mid-deploy) is skipped, not fatal.
        log.error("dropped a delta this gateway cannot read (%s): %r", exc, body)
        return None


def _event(body: dict[str, Any] | None) -> Event | None:
    if body is None:
        return None
    try:
        return event_from_json(body)
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        log.error("ignored a snapshot this gateway cannot read (%s)", exc)
        return None
