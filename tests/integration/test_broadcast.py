import asyncio

import pytest
from redis import asyncio as redis

from feeds.broadcast import Broadcast, Overflowed, Subscription


async def test_every_subscriber_gets_every_message_in_order() -> None:
    broadcast = Broadcast()
    await broadcast.connect()
    try:
        async with broadcast.subscribe("c") as first, broadcast.subscribe("c") as second:
            for i in range(50):
                broadcast.publish("c", str(i).encode())
            got_first = [await asyncio.wait_for(first.get(), 1) for _ in range(50)]
            got_second = [await asyncio.wait_for(second.get(), 1) for _ in range(50)]
        assert got_first == got_second == [str(i).encode() for i in range(50)]
        assert broadcast.stats.delivered == 100
    finally:
        await broadcast.disconnect()


async def test_one_library_subscription_per_channel(redis_url: str) -> None:
    broadcast = Broadcast(redis_url)
    await broadcast.connect()
    try:
        async with broadcast.subscribe("c"), broadcast.subscribe("c"), broadcast.subscribe("d"):
            assert set(broadcast._pumps) == {"c", "d"}
            assert len(broadcast._library._subscribers["c"]) == 1
        assert broadcast._pumps == {}
    finally:
        await broadcast.disconnect()


async def test_a_slow_consumer_overflows_alone() -> None:
    broadcast = Broadcast(queue_size=4)
    await broadcast.connect()
    try:
        async with broadcast.subscribe("c") as slow, broadcast.subscribe("c", maxsize=100) as fast:
            for i in range(10):
                broadcast.publish("c", str(i).encode())
            received = [await asyncio.wait_for(fast.get(), 1) for _ in range(10)]
            assert received == [str(i).encode() for i in range(10)]
            assert slow.overflowed
            with pytest.raises(Overflowed):
                await asyncio.wait_for(slow.get(), 1)
        assert broadcast.stats.overflowed == 6
    finally:
        await broadcast.disconnect()


async def test_over_redis_a_busy_consumer_overflows_its_own_queue(redis_url: str) -> None:
    broadcast = Broadcast(redis_url)
    await broadcast.connect()
    publisher = redis.Redis.from_url(redis_url)
    handled = 0

    async def consume(busy: Subscription) -> None:
        # In slices with work per message, as the hub does.
        nonlocal handled
        while True:
            await busy.get()
            sum(range(5000))  # work that holds the loop, like rendering frames
            handled += 1
            if handled % 64 == 0:
                await asyncio.sleep(0)  # the end of a slice: others may run

    try:
        async with broadcast.subscribe("c", maxsize=100) as busy:
            consumer = asyncio.create_task(consume(busy))
            pipe = publisher.pipeline(transaction=False)
            for i in range(2000):
                pipe.publish("c", str(i).encode())
            await pipe.execute()
            # What Redis delivered beyond the bounded queue is an overflow for the consumer to
            # resynchronise from, not a backlog that waits for it.
            with pytest.raises(Overflowed):
                await asyncio.wait_for(consumer, 10)
            assert handled < 2000
    finally:
        await publisher.aclose()
        await broadcast.disconnect()


async def test_channels_are_separate() -> None:
    broadcast = Broadcast()
    await broadcast.connect()
    try:
        async with broadcast.subscribe("a") as a, broadcast.subscribe("b") as b:
            broadcast.publish("a", b"for-a")
            broadcast.publish("b", b"for-b")
            assert await asyncio.wait_for(a.get(), 1) == b"for-a"
            assert await asyncio.wait_for(b.get(), 1) == b"for-b"
    finally:
        await broadcast.disconnect()
