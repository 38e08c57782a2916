"""Writes the snapshots of the events this process prices to Redis, for processes that start later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from redis.exceptions import RedisError

from feeds.book import OddsBook
from feeds.cancellation import stop_if_cancelled
from feeds.live_store import RedisLiveStore
from schema.render import event_json

log = logging.getLogger(__name__)
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class SnapshotWriter:
    def __init__(self, book: OddsBook, store: RedisLiveStore, published: Callable[[], Awaitable[None]]):
        self.book = book
        self.store = store
        # A snapshot ahead of the deltas still on their way to Redis would make a reader that
        # repairs a gap from it reset its clients; each waits for the deltas it contains.
        self.published = published
        self.written: dict[str, int] = {}

    async def flush(self) -> None:
        bodies: dict[str, bytes] = {}
        seqs: dict[str, int] = {}
        for event_id, state in self.book.events.items():
            if state.seq > self.written.get(event_id, 0) and self.book.owns(event_id):
                event = self.book.event(event_id)
                assert event is not None
                bodies[event_id] = orjson.dumps(event_json(event, wire=True), option=_OPTIONS)
                seqs[event_id] = state.seq
        gone = [e for e in self.written if e not in self.book.events]
        if bodies:
            await self.published()
        await self.store.save_snapshots(bodies)
        await self.store.forget(gone)
        self.written.update(seqs)
        for event_id in gone:
            del self.written[event_id]

    def rewrite_all(self) -> None:
        """Redis came back, perhaps empty: every event is written again on the next flush."""
        self.written.clear()

    async def run(self, interval: float) -> None:
        while True:
            stop_if_cancelled()
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except (RedisError, OSError) as exc:
                log.warning("writing live-book snapshots failed (%s); retrying", exc)
