"""The live book's shared state in Redis: each event's recent deltas and a periodic snapshot.

A process that starts, or that lost pub/sub for a while, rebuilds from these; the deltas are
written by the publisher in the same MULTI as their PUBLISH (see `feeds.broadcast`).
"""

from __future__ import annotations

from redis import asyncio as redis

HISTORY_INDEX = "oddsgate:histories"
_HISTORY = "oddsgate:history:"
_SNAPSHOT = "oddsgate:snapshot:"
_SNAPSHOT_INDEX = "oddsgate:snapshots"
_SOURCES = "oddsgate:sources:"
_SOURCES_INDEX = "oddsgate:source-tables"


def history_key(event_id: str) -> str:
    return _HISTORY + event_id


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLiveStore:
    def __init__(self, client: redis.Redis):
        self.client = client

    async def history(self, event_id: str) -> list[bytes]:
        entries = await self.client.lrange(history_key(event_id), 0, -1)
        return [_bytes(e) for e in entries]

    async def histories(self) -> dict[str, list[bytes]]:
        keys = sorted(_text(k) for k in await self.client.smembers(HISTORY_INDEX))
        if not keys:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.lrange(key, 0, -1)
        lists = await pipe.execute()
        return {
            key.removeprefix(_HISTORY): [_bytes(e) for e in entries] for key, entries in zip(keys, lists, strict=True)
        }

    async def snapshot(self, event_id: str) -> bytes | None:
        body = await self.client.get(_SNAPSHOT + event_id)
        return None if body is None else _bytes(body)

    async def snapshots(self) -> list[bytes]:
        keys = [_text(k) for k in await self.client.smembers(_SNAPSHOT_INDEX)]
        if not keys:
            return []
        bodies = await self.client.mget(keys)
        return [_bytes(b) for b in bodies if b is not None]

    async def save_snapshots(self, bodies: dict[str, bytes]) -> None:
        if not bodies:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.mset({_SNAPSHOT + event_id: body for event_id, body in bodies.items()})
        pipe.sadd(_SNAPSHOT_INDEX, *(_SNAPSHOT + event_id for event_id in bodies))
        await pipe.execute()

    async def forget(self, event_ids: list[str]) -> None:
        if not event_ids:
            return
        snapshots = [_SNAPSHOT + e for e in event_ids]
        histories = [history_key(e) for e in event_ids]
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(*snapshots, *histories)
        pipe.srem(_SNAPSHOT_INDEX, *snapshots)
        pipe.srem(HISTORY_INDEX, *histories)
        await pipe.execute()

    async def save_sources(self, instance: str, body: bytes, ttl: float) -> None:
        """One process's source-health table; it expires if the process stops writing it."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(_SOURCES + instance, body, px=int(ttl * 1000))
        pipe.sadd(_SOURCES_INDEX, instance)
        await pipe.execute()

    async def all_sources(self) -> dict[str, bytes]:
        instances = sorted(_text(i) for i in await self.client.smembers(_SOURCES_INDEX))
        if not instances:
            return {}
        bodies = await self.client.mget([_SOURCES + i for i in instances])
        expired = [i for i, body in zip(instances, bodies, strict=True) if body is None]
        if expired:
            await self.client.srem(_SOURCES_INDEX, *expired)
        return {i: _bytes(body) for i, body in zip(instances, bodies, strict=True) if body is not None}
