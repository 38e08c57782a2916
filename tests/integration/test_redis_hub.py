"""A reader process's hub over a real redis-server: replica, gap repair, overflow recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from redis import asyncio as redis

from feeds.book import OddsBook
from feeds.broadcast import Broadcast
from feeds.fanout import Hub, Published
from feeds.live_store import RedisLiveStore, history_key
from feeds.publish import DELTAS_CHANNEL, BroadcastSink, encode_delta
from feeds.replication import SnapshotWriter
from schema.model import Delta
from tests.support.waiting import never, until
from tests.unit.test_book import EVENT, Clock, q


class Recorder:
    def __init__(self) -> None:
        self.seen: list[int] = []
        self.resets: list[str] = []

    def deliver(self, item: Published) -> None:
        self.seen.append(item.delta.seq)

    def reset(self, event_id: str) -> None:
        self.resets.append(event_id)


@dataclass
class Pair:
    owner: OddsBook
    replica: OddsBook
    hub: Hub
    clock: Clock
    writer: Broadcast


@pytest.fixture
async def pair(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    await redis.Redis.from_url(redis_url).flushall()
    queue_size = getattr(request, "param", 1024)
    writer, reader = Broadcast(redis_url), Broadcast(redis_url)
    await writer.connect()
    await reader.connect()
    clock = Clock()
    owner = OddsBook(clock=clock, sinks=[BroadcastSink(writer)])
    replica = OddsBook(clock=clock, owns=lambda _event_id: False)
    assert reader.redis is not None
    hub = Hub(reader, replica, history_size=50, store=RedisLiveStore(reader.redis.client), queue_size=queue_size)
    await hub.start()
    yield Pair(owner, replica, hub, clock, writer)
    await hub.stop()
    await writer.disconnect()
    await reader.disconnect()


def price(pair: Pair, steps: int) -> None:
    for step in range(steps):
        pair.clock.now += 1
        pair.owner.apply(q(pair.clock, home=f"1.{50 + step}"))


async def test_the_replica_follows_the_owner(pair: Pair) -> None:
    recorder = Recorder()
    pair.hub.listen(recorder, events=[EVENT.id])
    price(pair, 5)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 5)
    assert recorder.seen == [1, 2, 3, 4, 5]
    assert pair.replica.event(EVENT.id) == pair.owner.event(EVENT.id)


@pytest.mark.parametrize("pair", [2], indirect=True)
async def test_falling_behind_its_subscription_is_repaired_from_redis(pair: Pair) -> None:
    recorder = Recorder()
    pair.hub.listen(recorder)
    price(pair, 12)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 12)
    # What the bounded queue dropped, Redis kept: clients got every delta, in order, no reset.
    assert recorder.seen == list(range(1, 13))
    assert recorder.resets == []
    missed = pair.hub.since(EVENT.id, 11)
    assert missed is not None
    assert [d.seq for d in missed] == [12]
    assert pair.replica.event(EVENT.id) == pair.owner.event(EVENT.id)


async def test_a_gap_is_filled_from_the_redis_history(pair: Pair, redis_url: str) -> None:
    price(pair, 2)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 2)
    recorder = Recorder()
    pair.hub.listen(recorder)
    # Deltas 3 and 4 reach the Redis history but never pub/sub, as when pub/sub was reconnecting.
    lost: list[Delta] = []
    sinks, pair.owner.sinks = pair.owner.sinks, [lost.append]
    price(pair, 2)
    pair.owner.sinks = sinks
    client = redis.Redis.from_url(redis_url)
    await client.rpush(history_key(EVENT.id), *(encode_delta(d) for d in lost))
    price(pair, 1)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 5)
    assert recorder.seen == [3, 4, 5]
    assert pair.hub.stats.repaired == 2
    assert recorder.resets == []
    await client.aclose()


async def test_an_unreadable_message_is_dropped_and_the_stream_goes_on(pair: Pair, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    await client.publish(DELTAS_CHANNEL, b"not json")
    await client.publish(DELTAS_CHANNEL, b'{"event_id": "x", "seq": 1, "market_type": "cricket-bat"}')
    price(pair, 1)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 1)
    await client.aclose()


async def test_deltas_lost_for_good_are_healed_from_the_next_snapshot(pair: Pair, redis_url: str) -> None:
    price(pair, 2)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 2)
    recorder = Recorder()
    pair.hub.listen(recorder)
    # 3 and 4 reach nobody and nothing (Redis restarted empty in between).
    sinks, pair.owner.sinks = pair.owner.sinks, []
    price(pair, 2)
    pair.owner.sinks = sinks
    price(pair, 1)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 5)
    # The replica goes on with the prices it gets instead of freezing, and clients are told.
    assert recorder.seen == [5]
    assert recorder.resets == [EVENT.id]
    assert pair.replica.events[EVENT.id].seq == 5
    # The owner writes its snapshot (as it does every interval, and at once after Redis returns).
    assert pair.hub.store is not None
    await SnapshotWriter(pair.owner, pair.hub.store, pair.writer.published).flush()
    await until(lambda: recorder.resets == [EVENT.id, EVENT.id], seconds=5)
    assert pair.replica.event(EVENT.id) == pair.owner.event(EVENT.id)


async def test_a_snapshot_never_runs_ahead_of_the_deltas_it_contains(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    price(pair, 1)
    await until(lambda: pair.hub.seen.get(EVENT.id) == 1)
    store = pair.hub.store
    assert store is not None
    assert pair.writer.redis is not None
    gate, holding = asyncio.Event(), asyncio.Event()
    publish = pair.writer.redis.publish_recorded

    async def held(*args: Any) -> None:
        holding.set()
        await gate.wait()
        await publish(*args)

    monkeypatch.setattr(pair.writer.redis, "publish_recorded", held)
    pair.clock.now += 1
    pair.owner.apply(q(pair.clock, home="1.70"))
    flush = asyncio.create_task(SnapshotWriter(pair.owner, store, pair.writer.published).flush())
    await asyncio.wait_for(holding.wait(), 5)
    # Delta 2 is still on its way to Redis, so the snapshot holding it must not be written meanwhile.
    assert pair.writer.outbound == 0
    await never(flush.done, seconds=0.3)
    assert await store.snapshot(EVENT.id) is None
    gate.set()
    await asyncio.wait_for(flush, 5)
    body = await store.snapshot(EVENT.id)
    assert body is not None
    assert orjson.loads(body)["seq"] == 2
    await until(lambda: pair.hub.seen.get(EVENT.id) == 2)


async def test_messages_redis_cannot_take_are_bounded_counted_and_waited_for(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broadcast = Broadcast(redis_url, outbound_limit=3)
    await broadcast.connect()
    assert broadcast.redis is not None
    gate, holding = asyncio.Event(), asyncio.Event()
    publish = broadcast.redis.publish_recorded
    batches: list[list[bytes]] = []

    async def held(batch: list[tuple[str, bytes, str | None]], *args: Any) -> None:
        holding.set()
        await gate.wait()
        batches.append([message for _, message, _ in batch])
        await publish(batch, *args)

    monkeypatch.setattr(broadcast.redis, "publish_recorded", held)
    try:
        broadcast.publish("bounded", b"0")
        await asyncio.wait_for(holding.wait(), 5)
        for n in range(1, 6):
            broadcast.publish("bounded", str(n).encode())
        # The publisher holds message 0; of the five behind it only the newest three are kept.
        assert broadcast.outbound == 3
        assert broadcast.stats.dropped == 2
        waiting = asyncio.create_task(broadcast.published())
        await never(waiting.done, seconds=0.1)
        gate.set()
        await asyncio.wait_for(waiting, 5)
        assert batches == [[b"0"], [b"3", b"4", b"5"]]
        assert broadcast.outbound == 0
    finally:
        await broadcast.disconnect()
