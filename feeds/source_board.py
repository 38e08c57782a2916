"""The health of every feed source, as every process sees it.

Only the processes that ingest hear from sources; each writes its table to Redis on every
snapshot round, and every process merges the tables of the others with its own, so a serving
gateway answers `/api/v2/sources` and `/ready` like the pricer does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import orjson

from feeds.book import OddsBook, SourceHealth
from feeds.live_store import RedisLiveStore

# A table its process has not rewritten for this many rounds reports its sources down: the
# process that heard from them is gone or cut off from Redis.
_ROUNDS_BEFORE_SILENT = 3


class SourceBoard:
    def __init__(self, book: OddsBook, store: RedisLiveStore | None = None, *, interval: float = 1.0):
        self.book = book
        self.store = store
        self.interval = interval
        self.instance = uuid.uuid4().hex
        self._remote: dict[str, tuple[float, list[SourceHealth]]] = {}

    def health(self) -> list[SourceHealth]:
        """Every source by name: seen last by whichever process heard it last, up if any process
        hears it, with the updates of all of them."""
        now = self.book.clock()
        tables: list[Iterable[SourceHealth]] = [self.book.sources.values()]
        for written_at, sources in self._remote.values():
            if now - written_at > _ROUNDS_BEFORE_SILENT * self.interval + 1.0:
                sources = [_silenced(s, written_at) for s in sources]
            tables.append(sources)
        merged: dict[str, SourceHealth] = {}
        for table in tables:
            for source in table:
                known = merged.get(source.name)
                merged[source.name] = _copy(source) if known is None else _merge(known, source)
        return sorted(merged.values(), key=lambda s: s.name)

    async def exchange(self) -> None:
        """Write this process's table (if it ingests) and read every other process's."""
        if self.store is None:
            return
        now = self.book.clock()
        if self.book.sources:
            body = orjson.dumps({"written_at": now, "sources": [_json(s) for s in self.book.sources.values()]})
            await self.store.save_sources(self.instance, body, ttl=max(60.0, 10 * self.interval))
        remote: dict[str, tuple[float, list[SourceHealth]]] = {}
        for instance, body in (await self.store.all_sources()).items():
            if instance == self.instance:
                continue
            table = orjson.loads(body)
            remote[instance] = (float(table["written_at"]), [_health(s) for s in table["sources"]])
        self._remote = remote


def _json(source: SourceHealth) -> dict[str, object]:
    return {
        "name": source.name,
        "last_seen": source.last_seen,
        "updates": source.updates,
        "up": source.up,
        "down_since": source.down_since,
    }


def _health(body: dict[str, object]) -> SourceHealth:
    down_since = body.get("down_since")
    return SourceHealth(
        name=str(body["name"]),
        last_seen=float(str(body["last_seen"])),
        updates=int(str(body["updates"])),
        up=bool(body["up"]),
        down_since=None if down_since is None else float(str(down_since)),
    )


def _copy(source: SourceHealth) -> SourceHealth:
    return SourceHealth(source.name, source.last_seen, source.updates, source.up, source.down_since)


def _silenced(source: SourceHealth, since: float) -> SourceHealth:
    if not source.up:
        return source
    return SourceHealth(source.name, source.last_seen, source.updates, False, since)


def _merge(known: SourceHealth, other: SourceHealth) -> SourceHealth:
    up = known.up or other.up
    downs = [s.down_since for s in (known, other) if s.down_since is not None]
    return SourceHealth(
        known.name,
        max(known.last_seen, other.last_seen),
        known.updates + other.updates,
        up,
        None if up or not downs else min(downs),
    )
