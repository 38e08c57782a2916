"""The broadcast interface over a real redis-server: two processes' worth of Broadcast objects."""

import asyncio

from feeds.broadcast import Broadcast


async def test_deltas_cross_between_broadcasts_through_redis(redis_url: str) -> None:
    publisher, receiver = Broadcast(redis_url), Broadcast(redis_url)
    await publisher.connect()
    await receiver.connect()
    try:
        async with receiver.subscribe("oddsgate.deltas") as subscription:
            await asyncio.sleep(0.1)  # let the SUBSCRIBE reach redis before publishing
            for i in range(20):
                publisher.publish("oddsgate.deltas", f'{{"seq": {i}}}'.encode())
            received = [await asyncio.wait_for(subscription.get(), 5) for _ in range(20)]
        assert received == [f'{{"seq": {i}}}'.encode() for i in range(20)]
    finally:
        await publisher.disconnect()
        await receiver.disconnect()
