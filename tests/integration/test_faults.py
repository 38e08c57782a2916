"""Faults on the real topology (HAProxy, a pricer, two readers, Redis, PostgreSQL): a gateway
dies under its clients, a vendor feed falls silent. Clients resume; nothing is lost or invented."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.settings import Settings
from tests.conftest import gateway_settings, mint, serving
from tests.integration.payloads import batch, now_iso, update
from tests.support.cluster import SECRET, Cluster, cluster
from tests.support.waiting import until

pytestmark = pytest.mark.e2e
EVENT = "49ers-ravens-2026-03-23"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(2, workdir=tmp_path_factory.mktemp("cluster"), ODDSGATE_DEFAULT_RATE_LIMIT="100000/minute") as running:
        yield running


def token() -> str:
    return mint(Settings(jwt_secret=SECRET))


async def ingest(client: httpx.AsyncClient, url: str, home: float) -> None:
    reply = await client.post(f"{url}/api/v2/ingest", json=batch("vendor_a", update(home, 2.10)))
    assert reply.status_code == 200, reply.text
    assert reply.json()["deltas"] >= 1


async def subscribe(url: str, since: int) -> ClientConnection:
    socket = await connect(url.replace("http", "ws") + "/ws")
    await socket.send(orjson.dumps({"action": "auth", "token": token()}).decode())
    assert orjson.loads(await socket.recv())["event"] == "authenticated"
    await socket.send(orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"], "since": {EVENT: since}}))
    assert orjson.loads(await socket.recv())["event"] == "subscribed"
    return socket


async def read_until(socket: ClientConnection, seqs: list[int], last: int, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (not seqs or seqs[-1] < last) and time.monotonic() < deadline:
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
        if message.get("event_id") == EVENT and "seq" in message:
            assert not message.get("reset"), "the history had every missed delta: no reset"
            seqs.append(message["seq"])


def open_sockets(gateway_url: str) -> float:
    metrics = httpx.get(f"{gateway_url}/metrics").text
    found = re.search(r'^oddsgate_connections\{protocol="ws"\} ([0-9.]+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


async def test_clients_of_a_killed_gateway_resume_on_another(topology: Cluster) -> None:
    headers = {"Authorization": f"Bearer {token()}"}
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        prices = [round(1.50 + i / 100, 2) for i in range(60)]
        for home in prices[:20]:
            await ingest(client, topology.url, home)
        live = (await client.get(f"{topology.url}/api/v2/events/{EVENT}")).json()["data"]["seq"]
        seqs: list[int] = []
        socket = await subscribe(topology.url, 0)
        await read_until(socket, seqs, live)
        [victim] = [r for r in topology.readers if open_sockets(r.url) == 1]
        victim.kill()
        with pytest.raises(ConnectionClosed):
            await read_until(socket, seqs, live + 1, within=5)
        # Prices keep moving while the client is away.
        for home in prices[20:40]:
            await ingest(client, topology.url, home)
        socket = await subscribe(topology.url, seqs[-1])
        for home in prices[40:]:
            await ingest(client, topology.url, home)
        final = (await client.get(f"{topology.url}/api/v2/events/{EVENT}")).json()["data"]["seq"]
        await read_until(socket, seqs, final)
        await socket.close()
    assert seqs == list(range(seqs[0], final + 1)), "every delta exactly once, in order"
    victim.start()


async def test_a_silent_feed_is_flagged_then_suspended_then_recovers(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, fresh_seconds=0.4, stale_seconds=0.8, source_down_after=0.8)
    async with serving(settings) as gateway:

        async def feed(source: str, home: float) -> None:
            body = batch(source, {**update(home, 2.10), "timestamp": now_iso()})
            assert (await gateway.client.post("/api/v2/ingest", json=body)).status_code == 200

        async def moneyline() -> dict[str, Any]:
            event = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
            market: dict[str, Any] = next(m for m in event["markets"] if m["id"] == "moneyline")
            return market

        await feed("vendor_a", 1.85)
        await feed("vendor_b", 1.87)
        assert (await moneyline())["suspended"] is False
        # vendor_b falls silent; vendor_a keeps quoting: b's price ages out of the consensus.
        for _ in range(6):
            await asyncio.sleep(0.2)  # a's pace; b stays silent 1.2 s, past fresh (0.4 s) and down (0.8 s)
            await feed("vendor_a", 1.85)
        home = next(o for o in (await moneyline())["outcomes"] if o["id"] == "home")
        # Its last price is still shown per source, but only vendor_a's makes the consensus.
        assert (home["source_count"], home["odds"]["decimal"]) == (1, 1.85)
        sources = {s["source"]: s["up"] for s in (await gateway.client.get("/api/v2/sources")).json()["data"]}
        assert sources == {"vendor_a": True, "vendor_b": False}
        # Then vendor_a too: the live market has no fresh source and is suspended.

        async def suspended() -> bool:
            return bool((await moneyline())["suspended"])

        await until(suspended, seconds=5)
        market = await moneyline()
        assert market["suspended"] is True
        assert all("stale" in o["flags"] for o in market["outcomes"])
        # The feed comes back: prices and the market return.
        await feed("vendor_b", 1.90)
        market = await moneyline()
        assert market["suspended"] is False
        assert next(o for o in market["outcomes"] if o["id"] == "home")["odds"]["decimal"] == 1.9
        sources = {s["source"]: s["up"] for s in (await gateway.client.get("/api/v2/sources")).json()["data"]}
        assert sources["vendor_b"] is True


class StreamCheck:
    """What one subscriber saw of the event: every jump in seq must come marked (a reset snapshot
    or a conflated delta) or with a new epoch announced by a reset; anything else is a silent gap."""

    def __init__(self, name: str):
        self.name = name
        self.last: int | None = None
        self.epoch: str | None = None
        self.silent_gaps: list[tuple[int, int]] = []
        self.marked = 0
        # The server holds the subscription (a /ws "subscribed", a GraphQL opening snapshot).
        self.subscribed = False

    def snapshot(self, seq: int, epoch: str | None) -> None:
        self.last, self.epoch = seq, epoch
        self.marked += 1

    def delta(self, seq: int, epoch: str | None, conflated: bool) -> None:
        follows = self.last is None or (seq == self.last + 1 and (epoch == self.epoch or self.epoch is None))
        if not follows and not conflated:
            self.silent_gaps.append((self.last or 0, seq))
        self.marked += not follows
        self.last, self.epoch = seq, epoch


async def partner_stream(url: str, check: StreamCheck, final: asyncio.Event) -> None:
    async with connect(url.replace("http", "ws") + "/ws") as socket:
        await socket.send(orjson.dumps({"action": "auth", "token": token()}).decode())
        await socket.send(orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}).decode())
        while not final.is_set():
            try:
                message: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), 0.5))
            except TimeoutError:
                continue
            if message.get("event") == "subscribed":
                check.subscribed = True
            elif message.get("event") == "snapshot" and message.get("event_id") == EVENT:
                check.snapshot(message["seq"], message.get("epoch"))
            elif message.get("event") == "odds.updated" and message.get("event_id") == EVENT:
                check.delta(message["seq"], message.get("epoch"), bool(message.get("conflated")))


async def graphql_stream(url: str, check: StreamCheck, final: asyncio.Event) -> None:
    query = f'subscription {{ oddsUpdated(eventIds: ["{EVENT}"]) {{ eventId seq epoch conflated }} }}'
    async with connect(url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token()}"}}
        await socket.send(orjson.dumps(init).decode())
        await socket.send(orjson.dumps({"id": "s", "type": "subscribe", "payload": {"query": query}}).decode())
        while not final.is_set():
            try:
                message: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), 0.5))
            except TimeoutError:
                continue
            if message.get("type") == "next":
                check.subscribed = True
                delta = message["payload"]["data"]["oddsUpdated"]
                check.delta(delta["seq"], delta["epoch"], delta["conflated"])


async def watch_through(topology: Cluster, fault: Callable[[], None], repair: Callable[[], None]) -> None:
    """Subscribers on every reader (both protocols) while prices flow, `fault` strikes with a burst
    of deltas in flight and `repair` follows three seconds later; none may see an unmarked gap."""
    headers = {"Authorization": f"Bearer {token()}"}
    final = asyncio.Event()
    checks: list[StreamCheck] = []
    streams: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        await ingest(client, topology.pricer.url, 1.50)

        async def readers_hold_the_event() -> bool:
            replies = [await client.get(f"{r.url}/api/v2/events/{EVENT}") for r in topology.readers]
            return all(r.status_code == 200 for r in replies)

        # So that every GraphQL subscription opens with a snapshot, its sign that it is in place.
        await until(readers_hold_the_event)
        for n, reader in enumerate(topology.readers):
            for kind, stream in (("ws", partner_stream), ("graphql", graphql_stream)):
                for copy in range(3):
                    checks.append(StreamCheck(f"{kind}-{n}-{copy}"))
                    streams.append(asyncio.ensure_future(stream(reader.url, checks[-1], final)))
        await until(lambda: all(c.subscribed for c in checks))
        struck_at, repaired, started = 0.0, False, time.monotonic()
        for step in range(400):
            now = time.monotonic()
            if step == 40:
                # A burst in flight as the fault strikes: some deltas reach Redis and no reader.
                burst = [
                    asyncio.ensure_future(
                        client.post(
                            f"{topology.pricer.url}/api/v2/ingest",
                            json=batch(f"burst_{n}", update(round(1.20 + n / 100, 2), 2.10)),
                        )
                    )
                    for n in range(30)
                ]
                await asyncio.sleep(0.01)  # the burst is under way, not yet delivered, when the fault strikes
                fault()
                await asyncio.gather(*burst, return_exceptions=True)
                struck_at = now
            if step >= 40 and not repaired and now - struck_at > 3.0:
                repair()
                repaired = True
            with contextlib.suppress(httpx.HTTPError, AssertionError):
                await ingest(client, topology.pricer.url, round(1.51 + (step % 40) / 100, 2))
            # Paced at 40 updates a second, as a feed sends them, fault or not.
            await asyncio.sleep(max(0.0, started + (step + 1) * 0.025 - time.monotonic()))
        last = (await client.get(f"{topology.pricer.url}/api/v2/events/{EVENT}")).json()["data"]
        target = (last["seq"], last["epoch"])

        async def caught_up() -> bool:
            return all((c.last, c.epoch) == target for c in checks)

        with contextlib.suppress(AssertionError):
            await until(caught_up, seconds=20)
        final.set()
        await asyncio.gather(*streams, return_exceptions=True)
    topology.wait_healthy()
    assert [c.name for c in checks if (c.last, c.epoch) != target] == [], "every subscriber reached the last delta"
    assert {c.name: c.silent_gaps for c in checks if c.silent_gaps} == {}


async def test_a_redis_crash_never_hands_a_subscriber_an_unmarked_gap(topology: Cluster) -> None:
    await watch_through(topology, topology.redis.kill, topology.redis.start)


async def test_a_pricer_and_redis_lost_together_start_a_new_epoch_that_readers_follow(topology: Cluster) -> None:
    """The pricer's book and Redis both gone: the event's sequence starts over from 1 in a new
    epoch. Readers must not take the new run for old deltas they have seen, nor hand it out as if
    it followed on."""

    def crash() -> None:
        topology.pricer.kill()
        topology.redis.kill()

    def back() -> None:
        topology.redis.start()
        topology.pricer.start()

    await watch_through(topology, crash, back)
