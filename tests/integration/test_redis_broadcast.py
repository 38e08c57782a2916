"""The broadcast interface over a real redis-server: two processes' worth of Broadcast objects."""

import asyncio

from feeds.broadcast import Broadcast
from tests.support.waiting import until


async def test_deltas_cross_between_broadcasts_through_redis(redis_url: str) -> None:
    publisher, receiver = Broadcast(redis_url), Broadcast(redis_url)
    await publisher.connect()
    await receiver.connect()
    assert publisher.redis is not None
    client = publisher.redis.client

    async def subscribers() -> int:
        [(_, count)] = await client.pubsub_numsub("oddsgate.deltas")
        return int(count)

    try:
        before = await subscribers()

        async def subscribed() -> bool:
            return await subscribers() > before

        async with receiver.subscribe("oddsgate.deltas") as subscription:
            await until(subscribed)  # SUBSCRIBE is sent, not confirmed, when subscribe() returns
            for i in range(20):
                publisher.publish("oddsgate.deltas", f'{{"seq": {i}}}'.encode())
            received = [await asyncio.wait_for(subscription.get(), 5) for _ in range(20)]
        assert received == [f'{{"seq": {i}}}'.encode() for i in range(20)]
    finally:
        await publisher.disconnect()
        await receiver.disconnect()
