"""A Redis pub/sub backend for `broadcaster`, replacing the library's own.

broadcaster 0.3.1's RedisBackend signals its listener before SUBSCRIBE completes, so the listener
can find nothing subscribed, stop, and never listen again (encode/broadcaster#133 and #121 are the
same family); it also decodes every message to str and does not survive a Redis restart. This one
subscribes first, passes bytes through untouched, and reconnects with its subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from broadcaster._backends.base import BroadcastBackend
from broadcaster._base import Event
from redis import asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from feeds.cancellation import stop_if_cancelled

log = logging.getLogger(__name__)
_RETRY_FIRST_SECONDS = 0.1
_RETRY_MAX_SECONDS = 5.0


class RedisPubSubBackend(BroadcastBackend):
    def __init__(self, url: str):
        self._url = url
        self._publisher = redis.Redis.from_url(url)
        self._pubsub: Any = None
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.reconnects = 0
        self._lost = False
        self._reconnected: list[Callable[[], None]] = []

    async def connect(self) -> None:
        await self._publisher.ping()
        self._pubsub = redis.Redis.from_url(self._url).pubsub(ignore_subscribe_messages=True)
        self._listener = asyncio.create_task(self._listen(), name="redis-pubsub-listener")

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        try:
            await self._pubsub.subscribe(channel)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # Redis is away: the listener subscribes to every channel when it reconnects.
            log.warning("subscribing to %s failed (%s); will subscribe on reconnect", channel, exc)
            self._lost = True
        self._subscribed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        # A connection that is gone has no subscription left to end; the reconnect skips this channel.
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError, RuntimeError):
            await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def publish_recorded(self, batch: list[tuple[str, bytes, str | None]], keep: int, index: str) -> None:
        """Publish a batch in one MULTI: each message recorded first in its capped history list (and
        the list named in the `index` set), so a subscriber that sees a gap can read what it missed."""
        pipe = self._publisher.pipeline(transaction=True)
        for channel, message, history in batch:
            if history is not None:
                pipe.rpush(history, message)
                pipe.ltrim(history, -keep, -1)
                pipe.sadd(index, history)
            pipe.publish(channel, message)
        await pipe.execute()

    @property
    def client(self) -> redis.Redis:
        return self._publisher

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnected.append(callback)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _listen(self) -> None:
        delay = _RETRY_FIRST_SECONDS
        while True:
            stop_if_cancelled()
            await self._subscribed.wait()
            if self._lost:
                self._lost = not await self._resubscribe()
                if self._lost:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_SECONDS)
                    continue
                delay = _RETRY_FIRST_SECONDS
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisConnectionError, RedisTimeoutError, OSError, RuntimeError) as exc:
                # RuntimeError: redis-py's pubsub has no connection left after a failed reconnect.
                log.warning("redis pub/sub lost (%s); reconnecting", exc)
                self._lost = True
                continue
            if message is None:
                if not self._channels:
                    self._subscribed.clear()
                continue
            if message.get("type") == "message":
                channel = message["channel"]
                name = channel.decode() if isinstance(channel, bytes) else str(channel)
                await self._queue.put(Event(name, message["data"]))

    async def _resubscribe(self) -> bool:
        try:
            await self._pubsub.aclose()
            self._pubsub = redis.Redis.from_url(self._url).pubsub(ignore_subscribe_messages=True)
            if self._channels:
                await self._pubsub.subscribe(*self._channels)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            return False
        self.reconnects += 1
        log.info("redis pub/sub resubscribed to %d channels", len(self._channels))
        # Whatever was published while we were away is lost to pub/sub: listeners catch up.
        for callback in self._reconnected:
            callback()
        return True
