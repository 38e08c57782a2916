"""Two gateway processes sharing one Redis: ingest on one, serve from the other, survive a Redis restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis import asyncio as aioredis
from websockets.asyncio.client import connect

from feeds.live_store import RedisLiveStore
from gateway.settings import Settings
from tests.conftest import mint
from tests.integration.payloads import batch, update
from tests.support.servers import RedisProcess, gateway_process
from tests.support.waiting import until

pytestmark = pytest.mark.e2e
EVENT = "49ers-ravens-2026-03-23"
SECRET = "cluster-test-secret-with-at-least-32-characters"
TOKEN = mint(Settings(jwt_secret=SECRET))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def environment(redis: RedisProcess, snapshot_interval: str) -> dict[str, str]:
    return {
        "ODDSGATE_REDIS_URL": redis.url,
        "ODDSGATE_DEMO_FEED": "0",
        "ODDSGATE_SNAPSHOT_INTERVAL": snapshot_interval,
        "ODDSGATE_JWT_SECRET": SECRET,
        "ODDSGATE_DEFAULT_RATE_LIMIT": "100000/minute",
    }


async def ingest(client: httpx.AsyncClient, url: str, home: float) -> dict[str, Any]:
    reply = await client.post(f"{url}/api/v2/ingest", json=batch("vendor_a", update(home, 2.10)))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def prices(count: int) -> list[float]:
    # Each differs from the one before it, so every update is a delta.
    return [round(1.50 + (i % 50) / 100, 2) for i in range(count)]


async def test_a_subscriber_on_another_process_gets_every_delta_through_a_redis_restart(tmp_path: Path) -> None:
    redis = RedisProcess()
    redis.start()
    common = environment(redis, "0.2")
    try:
        with (
            gateway_process(tmp_path, "ingest", ODDSGATE_PARTITIONS="all", **common) as writer,
            gateway_process(tmp_path, "reader", ODDSGATE_PARTITIONS="none", **common) as reader,
        ):
            async with httpx.AsyncClient(timeout=10, headers=AUTH) as client:
                series = prices(120)
                for home in series[:20]:
                    await ingest(client, writer, home)
                # The reader knows the event from Redis and refuses to price it itself.
                refused = await client.post(f"{reader}/api/v2/ingest", json=batch("vendor_a", update(1.99, 2.0)))
                assert refused.status_code == 422
                assert refused.json()["rejected"][0]["code"] == "NOT_OWNER"

                socket_url = reader.replace("http://", "ws://") + "/ws"
                async with connect(socket_url) as socket:
                    await socket.send(orjson.dumps({"action": "auth", "token": TOKEN}))
                    await socket.send(
                        orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"], "include_history": True})
                    )
                    received: list[dict[str, Any]] = []

                    async def listen() -> None:
                        while not received or received[-1].get("seq", 0) < 120:
                            message = orjson.loads(await socket.recv())
                            if message["event"] in ("snapshot", "odds.updated", "event.updated"):
                                received.append(message)

                    listening = asyncio.ensure_future(listen())
                    for step, home in enumerate(series[20:]):
                        if step == 40:
                            redis.stop()
                        if step == 50:
                            redis.start()
                        assert (await ingest(client, writer, home))["accepted"] == 1
                        # Paced like a feed, so deltas flow before, through and after the restart.
                        await asyncio.sleep(0.02)
                    async with asyncio.timeout(30):
                        await listening

                event = (await client.get(f"{reader}/api/v2/events/{EVENT}")).json()["data"]
    finally:
        redis.stop()
    snapshot, *deltas = received
    assert (snapshot["event"], snapshot["reset"]) == ("snapshot", False)
    assert [d["seq"] for d in deltas] == list(range(snapshot["seq"] + 1, 121))
    assert not any(d.get("conflated") for d in deltas)
    assert [d["outcomes"][0]["odds"]["decimal"] for d in deltas] == series[snapshot["seq"] :]
    # The reader's own replica of the book followed: it answers queries with the latest price.
    assert event["seq"] == 120
    assert event["markets"][0]["outcomes"][0]["odds"]["decimal"] == series[-1]


async def test_a_process_that_starts_later_loads_the_book_from_redis(tmp_path: Path) -> None:
    redis = RedisProcess()
    redis.start()
    common = environment(redis, "0.1")
    try:
        with gateway_process(tmp_path, "ingest", ODDSGATE_PARTITIONS="all", **common) as writer:
            async with httpx.AsyncClient(timeout=10, headers=AUTH) as client:
                for home in prices(5):
                    await ingest(client, writer, home)
                async with aioredis.Redis.from_url(redis.url) as written:
                    store = RedisLiveStore(written)

                    async def snapshot_written() -> bool:
                        body = await store.snapshot(EVENT)
                        return body is not None and orjson.loads(body)["seq"] == 5

                    await until(snapshot_written)
                with gateway_process(tmp_path, "late", ODDSGATE_PARTITIONS="none", **common) as late:
                    started = time.monotonic()
                    odds = (await client.get(f"{late}/api/v2/odds")).json()
    finally:
        redis.stop()
    assert time.monotonic() - started < 5
    [event] = odds["data"]
    assert (event["id"], event["seq"]) == (EVENT, 5)
    assert event["markets"][0]["outcomes"][0]["odds"]["decimal"] == prices(5)[-1]


async def test_a_tokens_rate_is_shared_by_every_process_through_redis(tmp_path: Path) -> None:
    redis = RedisProcess()
    redis.start()
    common = environment(redis, "1")
    token = mint(Settings(jwt_secret=SECRET), "odds:read", rate_limit="5/minute")
    try:
        with (
            gateway_process(tmp_path, "a", **common) as first,
            gateway_process(tmp_path, "b", ODDSGATE_PARTITIONS="none", **common) as second,
        ):
            async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
                replies = [await client.get(f"{url}/api/v2/odds") for url in (first, second) * 3]
    finally:
        redis.stop()
    assert [r.status_code for r in replies] == [200, 200, 200, 200, 200, 429]
    assert replies[4].headers["RateLimit"].startswith('"token";r=0;')


async def test_an_override_made_on_any_process_is_priced_by_the_owner(tmp_path: Path) -> None:
    redis = RedisProcess()
    redis.start()
    common = environment(redis, "1")
    try:
        with (
            gateway_process(tmp_path, "owner", ODDSGATE_PARTITIONS="all", **common) as owner,
            gateway_process(tmp_path, "reader", ODDSGATE_PARTITIONS="none", **common) as reader,
        ):
            async with httpx.AsyncClient(timeout=10, headers=AUTH) as client:
                await ingest(client, owner, 1.80)
                socket_url = reader.replace("http://", "ws://") + "/ws"
                async with connect(socket_url) as socket:
                    await socket.send(orjson.dumps({"action": "auth", "token": TOKEN}))
                    await socket.recv()
                    await socket.send(orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}))
                    await socket.recv()
                    body = {"scope": {"event_id": EVENT}, "action": "suspend", "reason": "made on the reader"}
                    made = await client.post(f"{reader}/api/v2/overrides", json=body)
                    assert made.status_code == 201, made.text
                    async with asyncio.timeout(10):
                        delta = orjson.loads(await socket.recv())
                served = (await client.get(f"{reader}/api/v2/events/{EVENT}")).json()["data"]
    finally:
        redis.stop()
    assert (delta["seq"], delta["suspended"], delta["reason"]) == (2, True, "override")
    assert served["markets"][0]["suspended"] is True


async def test_a_serving_process_reports_the_health_of_the_sources_the_pricer_hears(tmp_path: Path) -> None:
    redis = RedisProcess()
    redis.start()
    common = environment(redis, "0.1")
    query = {"query": "{ sources { name up updates } }"}
    try:
        with (
            gateway_process(
                tmp_path, "ingest", ODDSGATE_PARTITIONS="all", ODDSGATE_SOURCE_DOWN_AFTER="1.5", **common
            ) as writer,
            gateway_process(tmp_path, "reader", ODDSGATE_PARTITIONS="none", **common) as reader,
        ):
            async with httpx.AsyncClient(timeout=10, headers=AUTH) as client:
                for home in prices(3):
                    await ingest(client, writer, home)
                reply = await client.post(f"{writer}/api/v2/ingest", json=batch("vendor_b", update(1.6, 2.3)))
                assert reply.status_code == 200

                async def health() -> list[tuple[str, bool, int]]:
                    data = (await client.get(f"{reader}/api/v2/sources")).json()["data"]
                    return [(s["source"], s["up"], s["updates"]) for s in data]

                async def both_heard() -> bool:
                    return await health() == [("vendor_a", True, 3), ("vendor_b", True, 1)]

                await until(both_heard, seconds=5)
                graphql = (await client.post(f"{reader}/graphql", json=query)).json()
                assert graphql["data"]["sources"] == [
                    {"name": "vendor_a", "up": True, "updates": 3},
                    {"name": "vendor_b", "up": True, "updates": 1},
                ]
                assert (await client.get(f"{reader}/ready")).json()["status"] == "ready"

                # Both fall silent: the pricer marks them down, and the reader says so too.
                async def both_down() -> bool:
                    return [up for _, up, _ in await health()] == [False, False]

                await until(both_down, seconds=10)
                ready = await client.get(f"{reader}/ready")
                assert ready.status_code == 200
                assert ready.json()["status"] == "degraded"
                assert ready.json()["checks"]["feeds"] == {"ok": False, "sources_up": 0, "sources_down": 2}
    finally:
        redis.stop()
