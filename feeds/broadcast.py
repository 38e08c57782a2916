"""Fan-out of deltas behind one small interface, over the `broadcaster` library.

The library keeps an unbounded queue per subscriber; here each channel has one library
subscription per process, pumped into bounded per-consumer queues, so one slow consumer can only
overflow its own queue. Publishing never awaits: the book stays on its hot path and a publisher
task hands messages to the library in order. With `memory://` everything is in this process, so
messages go straight to the consumers' queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from broadcaster import Broadcast as _Library
from redis.exceptions import RedisError

from feeds.cancellation import stop_if_cancelled
from feeds.redis_backend import RedisPubSubBackend

log = logging.getLogger(__name__)
_PUBLISH_BATCH = 256
_RETRY_FIRST = 0.05
_RETRY_MAX = 2.0


# Handed to every subscriber when the transport lost messages (Redis pub/sub reconnected):
# the consumer must catch up from wherever the messages were also kept.
GAP = b""


class Overflowed(Exception):
    """The consumer fell more than its queue size behind; it must resynchronise from a snapshot."""


class Subscription:
    def __init__(self, channel: str, maxsize: int):
        self.channel = channel
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, message: bytes) -> bool:
        if self.overflowed:
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            # Wake a consumer blocked in get() so it learns of the overflow at once.
            self._queue = asyncio.Queue(1)
            self._queue.put_nowait(b"")
            return False
        return True

    async def get(self) -> bytes:
        message = await self._queue.get()
        if self.overflowed:
            raise Overflowed(f"subscriber fell behind on {self.channel}")
        return message

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.get()


@dataclass(slots=True)
class BroadcastStats:
    published: int = 0
    delivered: int = 0
    overflowed: int = 0
    publish_failures: int = 0
    dropped: int = 0


class Broadcast:
    def __init__(
        self,
        url: str = "memory://",
        *,
        queue_size: int = 1024,
        history_size: int = 512,
        history_index: str = "oddsgate:histories",
        outbound_limit: int = 100_000,
    ):
        self.url = url
        self.queue_size = queue_size
        self.history_size = history_size
        self.history_index = history_index
        self.outbound_limit = outbound_limit
        self.stats = BroadcastStats()
        # In one process the library would only add three queue hops; consumers are handed each
        # message directly. Across processes (Redis) the library carries it.
        self._local = url == "memory://"
        self._connected = False
        self.redis: RedisPubSubBackend | None = None
        if url.startswith(("redis://", "rediss://")):
            self.redis = RedisPubSubBackend(url)
            self._library = _Library(backend=self.redis)
        else:
            self._library = _Library(url)
        self._outbound: asyncio.Queue[tuple[str, bytes, str | None]] = asyncio.Queue()
        self._consumers: dict[str, set[Subscription]] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._publisher: asyncio.Task[None] | None = None
        # Messages handed to the publisher, and of those how many are on Redis (or were dropped).
        self._enqueued = 0
        self._settled = 0
        self._progress = asyncio.Condition()

    async def connect(self) -> None:
        if self.redis is not None:
            self.redis.on_reconnect(self._mark_gap)
        await self._library.connect()
        self._connected = True
        if not self._local:
            self._publisher = asyncio.create_task(self._publish_loop(), name="broadcast-publisher")

    async def disconnect(self) -> None:
        tasks = [*self._pumps.values(), *([self._publisher] if self._publisher else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pumps.clear()
        self._publisher = None
        self._connected = False
        await self._library.disconnect()

    @property
    def connected(self) -> bool:
        if self._local:
            return self._connected
        return self._publisher is not None and not self._publisher.done()

    @property
    def outbound(self) -> int:
        """Messages waiting to be published to Redis."""
        return self._outbound.qsize()

    async def published(self) -> None:
        """Returns once every message published before the call is on Redis (or was dropped), so
        what is written beside the stream (snapshots) never runs ahead of it."""
        if self._local:
            return
        target = self._enqueued
        async with self._progress:
            await self._progress.wait_for(lambda: self._settled >= target)

    def publish(self, channel: str, message: bytes, history: str | None = None) -> None:
        """Hand a message to every subscriber of `channel`, in order; with Redis, also append it to
        the capped list `history` first, so a process that missed it can read it back."""
        self.stats.published += 1
        if self._local:
            self._deliver(channel, message)
            return
        if self._outbound.qsize() >= self.outbound_limit:
            # Redis has been away too long to keep everything: the oldest go, and readers heal
            # those events from the snapshots written again when Redis is back.
            self._outbound.get_nowait()
            self.stats.dropped += 1
            self._settled += 1
        self._outbound.put_nowait((channel, message, history))
        self._enqueued += 1

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, maxsize: int | None = None) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel, maxsize or self.queue_size)
        consumers = self._consumers.setdefault(channel, set())
        consumers.add(subscription)
        if not self._local and channel not in self._pumps:
            ready = asyncio.Event()
            self._pumps[channel] = asyncio.create_task(self._pump(channel, ready), name=f"broadcast-pump:{channel}")
            await ready.wait()
        try:
            yield subscription
        finally:
            consumers.discard(subscription)
            if not consumers:
                del self._consumers[channel]
                pump = self._pumps.pop(channel, None)
                if pump is not None:
                    pump.cancel()
                    try:
                        await pump
                    except asyncio.CancelledError:
                        pass
                    except Exception:
                        # Leaving must not fail the consumer: the channel is gone from the backend anyway.
                        log.exception("closing the subscription to %s failed", channel)

    async def follow(self, channel: str, apply: Callable[[bytes], None], resync: Callable[[], Awaitable[None]]) -> None:
        """Apply every message of `channel`, for ever. When messages were lost (a gap in the
        transport, or this consumer overflowed its queue), `resync` catches up from wherever they
        were also kept before the next one is applied."""
        while True:
            try:
                async with self.subscribe(channel) as subscription:
                    async for message in subscription:
                        if message == GAP:
                            await resync()
                        else:
                            apply(message)
            except Overflowed:
                await resync()

    async def _publish_loop(self) -> None:
        assert self.redis is not None
        delay = _RETRY_FIRST
        while True:
            batch = [await self._outbound.get()]
            while len(batch) < _PUBLISH_BATCH and not self._outbound.empty():
                batch.append(self._outbound.get_nowait())
            # A batch that fails is retried whole, in order, until Redis takes it: nothing is dropped.
            while True:
                try:
                    await self.redis.publish_recorded(batch, self.history_size, self.history_index)
                    delay = _RETRY_FIRST
                    break
                except (RedisError, OSError) as exc:
                    stop_if_cancelled()
                    self.stats.publish_failures += 1
                    log.warning("publishing %d messages failed (%s); retrying in %.1fs", len(batch), exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX)
            self._settled += len(batch)
            async with self._progress:
                self._progress.notify_all()

    async def _pump(self, channel: str, ready: asyncio.Event) -> None:
        async with self._library.subscribe(channel) as library_subscription:
            ready.set()
            # No yielding here: whatever the transport took in is handed on at once, so a consumer
            # that cannot keep up overflows its own bounded queue (and resynchronises) instead of
            # being paced by this loop while the backlog grows in the library's unbounded queue.
            while True:
                event = await library_subscription.get()
                # The library types messages as str; a Redis backend may hand back either.
                raw: object = event.message
                self._deliver(channel, raw if isinstance(raw, bytes) else str(raw).encode())

    def _mark_gap(self) -> None:
        for consumers in self._consumers.values():
            for consumer in consumers:
                consumer.offer(GAP)

    def _deliver(self, channel: str, message: bytes) -> None:
        consumers = self._consumers.get(channel)
        if not consumers:
            return
        for consumer in tuple(consumers):
            if consumer.offer(message):
                self.stats.delivered += 1
            else:
                self.stats.overflowed += 1
