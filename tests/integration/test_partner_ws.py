"""The partner `/ws` channel protocol through uvicorn, driven by the plain `websockets` client."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import RunningGateway, gateway_settings, mint, serving
from tests.integration.payloads import batch, now_iso, update
from tests.support.waiting import until

EVENT = "49ers-ravens-2026-03-23"
TCP_ESTABLISHED = "01"  # as /proc/net/tcp writes the state (linux/tcp_states.h)
OTHER = "chiefs-bills-2026-03-23"


async def ingest(gateway: RunningGateway, *updates: dict[str, Any]) -> None:
    reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
    assert reply.status_code == 200, reply.text


@asynccontextmanager
async def partner(gateway: RunningGateway, token: str | None = None, **options: Any) -> AsyncIterator[ClientConnection]:
    """A /ws client, authenticated with `token` (the gateway's all-scope token by default)."""
    async with connect(gateway.url.replace("http://", "ws://") + "/ws", **options) as socket:
        await send(socket, action="auth", token=token or gateway.token)
        reply = await receive(socket)
        assert reply["event"] == "authenticated", reply
        yield socket


async def send(socket: ClientConnection, **message: Any) -> None:
    await socket.send(orjson.dumps(message).decode())


async def receive(socket: ClientConnection, skip: tuple[str, ...] = ("heartbeat",)) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            message: dict[str, Any] = orjson.loads(await socket.recv())
            if message["event"] not in skip:
                return message


async def receive_n(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [await receive(socket) for _ in range(count)]


async def test_subscribe_to_an_event_channel_and_get_deltas_with_seq(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"])
        assert await receive(socket) == {"event": "subscribed", "channels": [f"event.{EVENT}"]}
        await ingest(gateway, update(1.85, 2.10), update(1.75, 2.2, home_team="Chiefs", away_team="Bills"))
        await ingest(gateway, update(1.80, 2.20))
        first, second = await receive_n(socket, 2)
    assert (first["event"], first["event_id"], first["market_id"], first["seq"]) == (
        "odds.updated",
        EVENT,
        "moneyline",
        1,
    )
    assert first["fixture"]["home_team"] == "San Francisco 49ers"
    assert first["outcomes"][0]["odds"] == {"decimal": 1.85, "american": "-118", "fractional": "17/20"}
    assert first["suspended"] is False
    assert (second["seq"], second["outcomes"][0]["odds"]["decimal"]) == (2, 1.8)
    assert "fixture" not in second


async def test_sport_market_channel_filters_by_market(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=["odds.nfl.spread"])
        await receive(socket)
        await ingest(gateway, update(), update(1.91, 1.91, market="spread", line=-3.5))
        await ingest(gateway, update(1.75, 2.2, home_team="Chiefs", away_team="Bills", market="spread", line=2.5))
        first, second = await receive_n(socket, 2)
    assert (first["event_id"], first["market_id"]) == (EVENT, "spread:-3.5")
    assert (second["event_id"], second["market_id"]) == (OTHER, "spread:2.5")


async def test_include_history_sends_a_snapshot_first(gateway: RunningGateway) -> None:
    await ingest(gateway, update(), update(1.91, 1.91, market="spread", line=-3.5))
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=["odds.nfl.moneyline"], include_history=True)
        await receive(socket)
        snapshot = await receive(socket)
        await ingest(gateway, update(1.80, 2.20))
        delta = await receive(socket)
    assert (snapshot["event"], snapshot["event_id"], snapshot["seq"], snapshot["reset"]) == (
        "snapshot",
        EVENT,
        2,
        False,
    )
    assert [m["id"] for m in snapshot["data"]["markets"]] == ["moneyline"]
    assert delta["seq"] == 3


async def test_resume_with_since_gets_exactly_what_was_missed(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"])
        await receive(socket)
        await ingest(gateway, update(1.85, 2.10))
        assert (await receive(socket))["seq"] == 1
    for home in (1.80, 1.75, 1.70):
        await ingest(gateway, update(home, 2.20))
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"], since={EVENT: 1})
        await receive(socket)
        missed = await receive_n(socket, 3)
        await ingest(gateway, update(1.65, 2.30))
        live = await receive(socket)
    assert [m["seq"] for m in missed] == [2, 3, 4]
    assert [m["outcomes"][0]["odds"]["decimal"] for m in missed] == [1.8, 1.75, 1.7]
    assert live["seq"] == 5


async def test_since_for_an_event_outside_the_channels_sends_nothing_of_it(gateway: RunningGateway) -> None:
    await ingest(gateway, update(), update(1.75, 2.2, home_team="Chiefs", away_team="Bills"))
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"], since={OTHER: 0, EVENT: 0})
        await receive(socket)
        replay = await receive(socket)
        await send(socket, action="ping")
        pong = await receive(socket)
    assert (replay["event_id"], replay["seq"]) == (EVENT, 1)
    assert pong["event"] == "pong"


async def test_resume_beyond_the_history_gets_a_fresh_snapshot_marked_reset(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, history_size=2)) as gateway:
        for step in range(5):
            await ingest(gateway, update(1.85 - step / 100, 2.10))
        async with partner(gateway) as socket:
            await send(socket, action="subscribe", channels=[f"event.{EVENT}"], since={EVENT: 1})
            await receive(socket)
            snapshot = await receive(socket)
            await send(socket, action="subscribe", channels=[f"event.{EVENT}"], since={EVENT: 3})
            await receive(socket)
            replay = await receive_n(socket, 2)
    assert (snapshot["event"], snapshot["reset"], snapshot["seq"]) == ("snapshot", True, 5)
    assert snapshot["data"]["markets"][0]["outcomes"][0]["odds"]["decimal"] == 1.81
    assert [d["seq"] for d in replay] == [4, 5]


async def test_conflate_ms_merges_deltas_per_market(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"], conflate_ms=300)
        await receive(socket)
        for home in (1.85, 1.80, 1.75, 1.70):
            await ingest(gateway, update(home, 2.20))
        merged = await receive(socket)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await receive(socket)
    assert merged["seq"] == 4
    assert merged["conflated"] is True
    assert merged["outcomes"][0]["odds"]["decimal"] == 1.7
    assert merged["fixture"]["id"] == EVENT  # the first delta's description survives the merge


async def test_a_conflated_channel_never_sends_an_events_seq_backwards(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"], conflate_ms=300)
        await receive(socket)
        await send(socket, action="subscribe", channels=["odds.nfl.moneyline"])
        await receive(socket)
        await ingest(gateway, update(1.85, 2.10, market="spread", line=-3.5))  # held for the window
        await ingest(gateway, update(1.80, 2.20))  # sent at once: the held one goes first
        first, second = await receive_n(socket, 2)
    assert [first["seq"], second["seq"]] == [1, 2]
    assert first["market_id"] == "spread:-3.5"


async def test_heartbeats_at_the_configured_interval(sqlite_url: str) -> None:
    async with serving(gateway_settings(sqlite_url, ws_heartbeat=0.2)) as gateway, partner(gateway) as socket:
        async with asyncio.timeout(2):
            beats = [orjson.loads(await socket.recv()) for _ in range(3)]
    assert [b["event"] for b in beats] == ["heartbeat"] * 3


@pytest.mark.parametrize("compression", [False, True])
async def test_permessage_deflate_is_offered_only_when_configured(sqlite_url: str, compression: bool) -> None:
    async with (
        serving(gateway_settings(sqlite_url, ws_compression=compression)) as gateway,
        partner(gateway) as socket,
    ):
        assert socket.response is not None
        extensions = socket.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert extensions.startswith("permessage-deflate") is compression
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"])
        assert (await receive(socket))["event"] == "subscribed"
        await ingest(gateway, update())
        assert (await receive(socket))["seq"] == 1


async def test_bad_messages_get_errors_and_change_nothing(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}", "scores.nfl"])
        error = await receive(socket)
        await socket.send("not json")
        not_json = await receive(socket)
        await send(socket, action="dance")
        unknown = await receive(socket)
        await send(socket, action="subscribe", channels=["odds.curling"])
        sport = await receive(socket)
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"], conflate_ms=-5)
        conflate = await receive(socket)
        await send(socket, action="unsubscribe", channels=[["nested"]])
        nested = await receive(socket)
        await ingest(gateway, update())
        await send(socket, action="ping")
        pong = await receive(socket)
    assert error == {
        "event": "error",
        "error": {
            "code": "INVALID_REQUEST",
            "message": "unknown channel 'scores.nfl': use odds.{sport}, odds.{sport}.{market} or event.{id}",
        },
    }
    assert not_json["error"]["code"] == "INVALID_REQUEST"
    assert "dance" in unknown["error"]["message"]
    assert "curling" in sport["error"]["message"]
    assert "conflate_ms" in conflate["error"]["message"]
    assert "channel names" in nested["error"]["message"]
    # None of the refused subscriptions took: the ingest above reached nobody before the pong.
    assert pong["event"] == "pong"


async def test_unsubscribe_stops_deltas(gateway: RunningGateway) -> None:
    async with partner(gateway) as socket:
        await send(socket, action="subscribe", channels=[f"event.{EVENT}"])
        await receive(socket)
        await send(socket, action="unsubscribe", channels=[f"event.{EVENT}"])
        assert await receive(socket) == {"event": "unsubscribed", "channels": [f"event.{EVENT}"]}
        await ingest(gateway, update())
        await send(socket, action="ping")
        assert (await receive(socket))["event"] == "pong"


class RawClient:
    """A WebSocket client written by hand so that it can truly stop reading: a tiny kernel receive
    buffer and no library reading ahead, as a stalled mobile client looks to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str) -> RawClient:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=raw, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        return cls(reader, writer)

    async def send(self, **message: Any) -> None:
        payload = orjson.dumps(message)
        mask = os.urandom(4)
        assert len(payload) < 2**16
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        size = (
            bytes([0x80 | len(payload)])
            if len(payload) < 126
            else bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        )
        self.writer.write(bytes([0x81]) + size + mask + masked)
        await self.writer.drain()

    async def frame(self) -> tuple[int, bytes]:
        head = await self.reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return head[0] & 0x0F, await self.reader.readexactly(length)

    def let_go_by_server(self) -> bool:
        """Whether the server has let the connection go (closed its socket). Nothing reaches this
        end until it reads through what it left unread, so the server's end tells: the kernel's
        table of connections (Linux), where it is no longer established, or gone."""
        mine, theirs = self.writer.get_extra_info("sockname")[1], self.writer.get_extra_info("peername")[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            local, remote, state = line.split()[1:4]
            if (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)) == (theirs, mine):
                return state != TCP_ESTABLISHED
        return True

    async def close_code(self) -> int:
        """Read through whatever was buffered up to the server's close frame."""
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x8:
                code: int = struct.unpack("!H", payload[:2])[0]
                return code


async def test_a_client_that_stops_reading_is_conflated_then_closed(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, client_queue=64, slow_client_seconds=0.5)
    stamp = now_iso()
    # Batches smaller than the client queue: a client that reads keeps up without conflation.
    prices = [(1.85, 2.10), (1.90, 2.05)] * 30
    rounds = 80
    async with serving(settings) as gateway:
        slow = await RawClient.connect(int(gateway.url.rsplit(":", 1)[1]), "/ws")
        await slow.send(action="auth", token=mint(settings))
        await slow.send(action="subscribe", channels=["odds.nfl"])
        async with partner(gateway, max_queue=None) as healthy:
            await send(healthy, action="subscribe", channels=["odds.nfl"])
            await receive(healthy)

            async def read_healthy() -> int:
                last = 0
                while last < rounds * len(prices):
                    last = orjson.loads(await healthy.recv()).get("seq", last)
                return last

            reader = asyncio.ensure_future(read_healthy())
            # The slow client reads nothing from here on: its socket buffers fill, then its outbox.
            for round_ in range(rounds):
                await ingest(gateway, *(update(home, away, timestamp=stamp) for home, away in prices))
                if round_ == rounds - 2:
                    # Long enough behind for the slow client's conflation to run out of patience.
                    await asyncio.sleep(0.6)
            # The slow client now reads again: it finds the bounded backlog, then the close.
            async with asyncio.timeout(10):
                code = await slow.close_code()
            slow.writer.close()
            async with asyncio.timeout(20):
                last_seen = await reader
    assert last_seen == rounds * len(prices)  # the healthy client kept up to the latest delta
    assert code == 4008


async def test_a_resume_across_a_restart_is_a_reset_not_a_continuation(sqlite_url: str) -> None:
    """After a restart the event's sequence starts over in a new epoch; a client that resumes with
    the epoch it had is given a fresh snapshot, never the new run's deltas as if they followed on."""
    settings = gateway_settings(sqlite_url)
    async with serving(settings) as gateway:
        for home in (1.50, 1.51, 1.52):
            await gateway.client.post("/api/v2/ingest", json=batch("a", update(home, 2.4)))
        before = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
    async with serving(settings) as gateway:
        for home in (1.60, 1.61, 1.62, 1.63, 1.64):
            await gateway.client.post("/api/v2/ingest", json=batch("a", update(home, 2.4)))
        after = (await gateway.client.get(f"/api/v2/events/{EVENT}")).json()["data"]
        async with connect(gateway.url.replace("http://", "ws://") + "/ws") as socket:
            await socket.send(orjson.dumps({"action": "auth", "token": gateway.token}).decode())
            await socket.recv()
            since = {EVENT: {"seq": before["seq"], "epoch": before["epoch"]}}
            await socket.send(
                orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"], "since": since}).decode()
            )
            assert orjson.loads(await socket.recv())["event"] == "subscribed"
            reply = orjson.loads(await socket.recv())
            same = {EVENT: {"seq": 3, "epoch": after["epoch"]}}
            await socket.send(
                orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"], "since": same}).decode()
            )
            assert orjson.loads(await socket.recv())["event"] == "subscribed"
            resumed = [orjson.loads(await socket.recv()) for _ in range(2)]
    assert before["epoch"] != after["epoch"]
    assert after["seq"] > before["seq"]
    assert (reply["event"], reply["reset"], reply["seq"], reply["epoch"]) == (
        "snapshot",
        True,
        after["seq"],
        after["epoch"],
    )
    # Within one epoch, a resume is the deltas missed, each carrying the epoch.
    assert [(m["event"], m["seq"], m["epoch"]) for m in resumed] == [
        ("odds.updated", 4, after["epoch"]),
        ("odds.updated", 5, after["epoch"]),
    ]


async def test_a_client_that_never_reads_again_is_cut_off(sqlite_url: str) -> None:
    """Its close frame waits behind what it never read; past WS_CLOSE_TIMEOUT the server drops the
    connection instead of holding it (and its buffers) for as long as the client keeps it open."""
    settings = gateway_settings(sqlite_url, client_queue=32, slow_client_seconds=0.3, ws_close_timeout=1.0)
    stamp = now_iso()
    prices = [(1.85, 2.10), (1.90, 2.05)] * 30
    async with serving(settings) as gateway:
        stalled = await RawClient.connect(int(gateway.url.rsplit(":", 1)[1]), "/ws")
        await stalled.send(action="auth", token=mint(settings))
        await stalled.send(action="subscribe", channels=["odds.nfl"])
        # Enough to fill the socket buffers (several MB on loopback), then the outbox.
        for round_ in range(250):
            await ingest(gateway, *(update(home, away, timestamp=stamp) for home, away in prices))
            if round_ == 248:
                # Behind for longer than SLOW_CLIENT_SECONDS when the next deltas come: given up.
                await asyncio.sleep(0.5)
        # Reading nothing, the client outwaits the server's own waits for it (behind for 0.3 s,
        # then 1 s to take the close frame): the server must let the connection go.
        await until(stalled.let_go_by_server, seconds=15)

        async def end_of_connection() -> str:
            try:
                while True:
                    opcode, _ = await stalled.frame()
                    if opcode == 0x8:
                        return "closed"
            except (ConnectionError, asyncio.IncompleteReadError):
                return "cut"

        # What it had not read, then the end: never a connection left open with nothing coming.
        async with asyncio.timeout(5):
            ending = await end_of_connection()
        stalled.writer.close()
        assert (await gateway.client.get("/health")).status_code == 200
    assert ending in ("closed", "cut")
