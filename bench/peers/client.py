"""The load generator of bench/peers/run.py: subscriber processes and the peers' publisher.

The subscribers speak WebSocket through a small asyncio Protocol of their own instead of the
`websockets` client bench/fanout.py uses: that client costs tens of microseconds per message (a
frame parser, a queue, a future and a task switch for each `recv`), which would cap one core of
subscribers near the rate oddsgate itself reaches, and so hide whether Node or the raw ASGI app go
further. Here `data_received` cuts the frames out of whatever the kernel handed over and decodes
each with orjson, with no task switch per message. It does what the peers need and no more: the
HTTP upgrade (with `Sec-WebSocket-Accept` checked), unmasked server frames of any length,
fragments, ping -> pong, close; no extensions (none is offered, so none is used).

Three dialects, one per kind of server:

    graphql   graphql-transport-ws (oddsgate's `/graphql` and the Node peer): connection_init,
              connection_ack, subscribe with bench/fanout.py's document; deltas are `next` messages
    ws        oddsgate's partner `/ws`: auth, subscribe to `event.<id>`, wait for `subscribed`
    raw       the raw ASGI ceiling: `/ws?event=<id>`; every frame is a delta as published

What is counted per message is what bench/fanout.py's `Tally` counts (its `Deliveries` and
`WorkerResult` are reused), plus the payload bytes.
"""

# ruff: noqa: E402

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import math
import os
import random
import sys
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
import orjson

from bench.fanout import (
    BEARER,
    CLIENT_CORE,
    MAX_CENTS,
    MIN_CENTS,
    QUERY,
    SOURCE,
    TOKEN,
    Deliveries,
    PublisherResult,
    WorkerResult,
    iso_now,
    new_loop,
    pin,
    process_cpu,
    walk,
)
from feeds.aliases import slugify
from schema.odds import formats

GRAPHQL, WS, RAW = "graphql", "ws", "raw"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
START_DATE = "2026-11-30"


# --- subscribers ---------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class ClientConfig:
    index: int
    host: str
    port: int
    path: str  # "/graphql" or "/ws"; the raw dialect adds ?event=<id>
    dialect: str  # GRAPHQL, WS or RAW
    subscribers: list[str]  # the event id of each subscriber of this process
    concurrency: int


@dataclass(slots=True)
class PeerWorkerResult(WorkerResult):
    payload_bytes: int = 0  # bytes of the delta messages received after arming


class Subscriber:
    __slots__ = ("bytes", "conn", "event_id", "last")

    def __init__(self, event_id: str):
        self.event_id = event_id
        self.last = 0
        self.bytes = 0
        self.conn: WSConn | None = None


class Tally:
    """What one subscriber process has seen since it was last armed, summed over its subscribers."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        # oddsgate stamps `timestamp` (when its book applied the update); the raw peer's deltas
        # carry the publisher's `sent_at`, which the Node peer serves as `timestamp`.
        self.stamp_key = "sent_at" if dialect == RAW else "timestamp"
        self.armed = False
        self.stopping = False
        self.deliveries = Deliveries()
        self.latencies: list[float] = []
        self.stamps: dict[str, float] = {}
        self.bytes = 0

    def reset(self) -> None:
        self.deliveries = Deliveries()
        self.latencies = []
        self.bytes = 0

    def message(self, sub: Subscriber, conn: WSConn, raw: bytes) -> None:
        """One frame after the subscription was set up; the same checks as bench/fanout.py's Tally."""
        now = time.time()
        message = orjson.loads(raw)
        counts = self.deliveries
        dialect = self.dialect
        if dialect == GRAPHQL:
            kind = message.get("type")
            if kind != "next":
                if kind == "ping":
                    conn.send_text(b'{"type":"pong"}')
                counts.control[str(kind)] += 1
                return
            data = message["payload"].get("data")
            body = data.get("oddsUpdated") if data else None
            if body is None:
                counts.errors += 1
                return
        elif dialect == WS:
            kind = message.get("event")
            if kind != "odds.updated" and kind != "event.updated":
                counts.control[str(kind)] += 1
                if kind == "snapshot" and self.armed and message.get("reset"):
                    counts.resyncs += 1
                    sub.last = max(sub.last, int(message.get("seq") or 0))
                return
            body = message
        else:
            body = message
        seq = body["seq"]
        last = sub.last
        if not self.armed:
            # Between steps the server may still send (oddsgate suspends markets whose source went
            # quiet): remember the seq, so a delta sent after the baseline was read is no gap.
            counts.pre_run += 1
            if seq > last:
                sub.last = seq
            return
        conflated = body.get("conflated") is True
        if seq > last + 1:
            if conflated:
                counts.skipped_by_conflation += seq - last - 1
            else:
                counts.gaps += 1
                counts.gap_missing += seq - last - 1
        elif seq <= last:
            counts.backwards += 1
        if conflated:
            counts.conflated += 1
            if seq == last + 1:
                counts.conflated_no_skip += 1
        if seq > last:
            sub.last = seq
        stamp_text = body[self.stamp_key]
        stamp = self.stamps.get(stamp_text)
        if stamp is None:
            if len(self.stamps) > 100_000:
                self.stamps.clear()
            stamp = self.stamps[stamp_text] = datetime.fromisoformat(stamp_text).timestamp()
        self.latencies.append((now - stamp) * 1000.0)
        if not counts.received:
            counts.first_rx = now
        counts.received += 1
        counts.last_rx = now
        self.bytes += len(raw)


class WSConn(asyncio.Protocol):
    """One client WebSocket: the upgrade, then frames, each handed to `setup` or the tally."""

    def __init__(self, sub: Subscriber, tally: Tally, config: ClientConfig):
        self.sub = sub
        self.tally = tally
        self.dialect = config.dialect
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.subscribed = False
        self.fragments: list[bytes] = []
        self.close_code: int | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        path = config.path
        if config.dialect == RAW:
            path = f"{path}?event={sub.event_id}"
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {config.host}:{config.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if config.dialect == GRAPHQL:
            lines.append("Sec-WebSocket-Protocol: graphql-transport-ws")
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed during set-up (close code {self.close_code}): {exc}"))
        elif not self.tally.stopping:
            reason = f"code {self.close_code}" if self.close_code is not None else "no close frame (connection lost)"
            self.tally.deliveries.closes[reason] += 1

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            self.handshake(data[:end])
            data = data[end + 4 :]
            if not self.upgraded:
                return
        pos, size = 0, len(data)
        while size - pos >= 2:
            first, second = data[pos], data[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (data[start] << 8) | data[start + 1]
                start += 2
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            pos = end
            opcode = first & 0x0F
            if opcode in (OP_TEXT, OP_BINARY):
                if first & 0x80:
                    self.frame(data[start:end])
                else:
                    self.fragments = [data[start:end]]
            elif opcode == OP_CONT:
                self.fragments.append(data[start:end])
                if first & 0x80:
                    self.frame(b"".join(self.fragments))
                    self.fragments = []
            elif opcode == OP_PING:
                self.send_frame(OP_PONG, data[start:end])
            elif opcode == OP_CLOSE:
                payload = data[start:end]
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.close()
                return
        if pos < size:
            self.buffer = data[pos:]

    # the WebSocket

    def handshake(self, head: bytes) -> None:
        status, _, rest = head.partition(b"\r\n")
        headers = {}
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b" 101 " not in status + b" ":
            self.fail(f"upgrade refused: {status.decode(errors='replace')}")
        elif headers.get(b"sec-websocket-accept") != self.accept:
            self.fail("upgrade answered with a wrong Sec-WebSocket-Accept")
        else:
            self.upgraded = True
            self.opened()

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        size = len(payload)
        if size < 126:
            header = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
        mask = os.urandom(4)
        # Client frames must be masked; the bench sends a handful per connection, so ints will do.
        stream = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
        self.transport.write(header + mask + masked)

    def transport_closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def send_text(self, payload: bytes) -> None:
        self.send_frame(OP_TEXT, payload)

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send_frame(OP_CLOSE, code.to_bytes(2, "big"))
            self.transport.close()

    def fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()

    # the dialects

    def opened(self) -> None:
        if self.dialect == GRAPHQL:
            self.send_text(orjson.dumps({"type": "connection_init", "payload": {"authorization": BEARER}}))
        elif self.dialect == WS:
            self.send_text(orjson.dumps({"action": "auth", "token": TOKEN}))
            self.send_text(orjson.dumps({"action": "subscribe", "channels": [f"event.{self.sub.event_id}"]}))
        else:
            self.set_up()

    def set_up(self) -> None:
        self.subscribed = True
        if not self.ready.done():
            self.ready.set_result(None)

    def frame(self, payload: bytes) -> None:
        if self.subscribed:
            self.tally.message(self.sub, self, payload)
            return
        message = orjson.loads(payload)
        if self.dialect == GRAPHQL:
            kind = message.get("type")
            if kind == "connection_ack":
                body = {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": QUERY, "variables": {"ids": [self.sub.event_id]}},
                }
                self.send_text(orjson.dumps(body))
                # graphql-transport-ws has no acknowledgement of a subscribe: the coordinator
                # waits a settling second after every subscriber is set up.
                self.set_up()
            elif kind == "ping":
                self.send_text(b'{"type":"pong"}')
        elif message.get("event") == "subscribed":
            self.set_up()
        elif message.get("event") == "error":
            self.fail(f"subscribe refused: {message.get('error')}")


async def open_subscriber(sub: Subscriber, tally: Tally, config: ClientConfig, errors: list[str]) -> bool:
    loop = asyncio.get_running_loop()
    error = ""
    for attempt in range(3):
        conn: WSConn | None = None
        try:
            async with asyncio.timeout(30):
                _, conn = await loop.create_connection(lambda: WSConn(sub, tally, config), config.host, config.port)
                await conn.ready
        except (OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if conn is not None and conn.transport is not None:
                conn.transport.abort()
            await asyncio.sleep(0.25 * (attempt + 1))
            continue
        sub.conn = conn
        return True
    errors.append(error)
    return False


async def subscriber_process(pipe: Connection, config: ClientConfig, pin_note: str | None) -> None:
    loop = asyncio.get_running_loop()
    tally = Tally(config.dialect)
    subs = [Subscriber(event_id) for event_id in config.subscribers]
    gate = asyncio.Semaphore(config.concurrency)
    errors: list[str] = []

    async def start(sub: Subscriber) -> bool:
        async with gate:
            return await open_subscriber(sub, tally, config, errors)

    started = time.perf_counter()
    opened = await asyncio.gather(*(start(sub) for sub in subs))
    seconds = time.perf_counter() - started
    live = [sub for sub, ok in zip(subs, opened, strict=True) if ok]
    # Start-up objects stay put; decoded messages are short-lived and freed by reference counting,
    # so the collector only needs to run now and then.
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    pipe.send(("ready", len(live), len(subs) - len(live), seconds, errors[:5]))
    cpu_from, wall_from = process_cpu(), time.perf_counter()
    while True:
        command, argument = await loop.run_in_executor(None, pipe.recv)
        if command == "arm":
            baselines: dict[str, int] = argument
            for sub in subs:
                sub.last = max(sub.last, baselines.get(sub.event_id, 0))
            tally.reset()
            tally.armed = True
            cpu_from, wall_from = process_cpu(), time.perf_counter()
            pipe.send(("armed",))
        elif command == "poll":
            pipe.send(("poll", tally.deliveries.received, tally.deliveries.last_rx))
        elif command == "collect":
            tally.armed = False
            result = PeerWorkerResult(config.index, pin_note=pin_note)
            result.connected = sum(1 for sub in live if sub.conn is not None and not sub.conn.transport_closed())
            result.cpu = process_cpu() - cpu_from
            result.wall = time.perf_counter() - wall_from
            result.deliveries = tally.deliveries
            result.latencies = array("d", tally.latencies)
            result.last_seq = [(sub.event_id, sub.last) for sub in live]
            result.payload_bytes = tally.bytes
            pipe.send(("result", result))
            tally.reset()
        elif command == "stop":
            break
    tally.stopping = True
    for sub in live:
        if sub.conn is not None:
            sub.conn.close()
    await asyncio.sleep(0.5)
    for sub in live:
        if sub.conn is not None and sub.conn.transport is not None:
            sub.conn.transport.abort()
    pipe.send(("stopped",))


def subscriber_main(pipe: Connection, config: ClientConfig) -> None:
    note = pin(CLIENT_CORE)
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        runner.run(subscriber_process(pipe, config, note))


# --- the peers' publisher ------------------------------------------------------------------------


def peer_event_id(home: str, away: str) -> str:
    """The peers' id of an event, shaped like oddsgate's (`<home>-<away>-<date>`)."""
    return f"{slugify(home)}-{slugify(away)}-{START_DATE}"


@dataclass(slots=True, frozen=True)
class PeerPublisherConfig:
    base_url: str
    event_ids: list[str]
    pairs: list[tuple[str, str]]
    prices: list[tuple[int, int]]
    seqs: list[int]  # the last seq published for each event before this step
    rate: float
    seconds: float
    interval: float
    max_batch_seconds: float
    seed: int


@dataclass(slots=True)
class PeerPublisherResult:
    publisher: PublisherResult
    seqs: list[int] = field(default_factory=list)
    prices: list[tuple[int, int]] = field(default_factory=list)
    payload_bytes: int = 0  # of the deltas, as published


def price_forms(low: int = MIN_CENTS, high: int = MAX_CENTS) -> dict[int, tuple[float, str, str]]:
    """Decimal, American and fractional forms of every price in cents, computed once as oddsgate does."""
    return {cents: formats(Decimal(cents) / 100) for cents in range(low, high + 1)}


def peer_delta(
    event_id: str,
    home: str,
    away: str,
    seq: int,
    cents: tuple[int, int],
    stamp: str,
    forms: dict[int, tuple[float, str, str]],
) -> dict[str, Any]:
    """One delta as the peers publish it: the fields of oddsgate's, in snake_case, ~400 bytes."""
    outcomes = []
    for outcome_id, name, price in (("home", home, cents[0]), ("away", away, cents[1])):
        decimal, american, fractional = forms[price]
        outcomes.append(
            {
                "id": outcome_id,
                "name": name,
                "odds": {"decimal": decimal, "american": american, "fractional": fractional},
            }
        )
    return {
        "event_id": event_id,
        "sport": "NFL",
        "seq": seq,
        "sent_at": stamp,
        "source": SOURCE,
        "reason": "price",
        "market_id": "moneyline",
        "market_type": "moneyline",
        "line": None,
        "suspended": False,
        "margin": round(100 / cents[0] + 100 / cents[1] - 1, 4),
        "outcomes": outcomes,
    }


async def peer_publish(pipe: Connection, config: PeerPublisherConfig, pin_note: str | None) -> PeerPublisherResult:
    """bench/fanout.py's `publish`, posting the peers' deltas (with their seq) to `/publish`."""
    loop = asyncio.get_running_loop()
    rng = random.Random(config.seed)
    forms = price_forms()
    prices = list(config.prices)
    seqs = list(config.seqs)
    order = list(range(len(config.pairs)))
    cursor = len(order)
    result = PublisherResult(pin_note=pin_note)
    out = PeerPublisherResult(result)
    total = round(config.rate * config.seconds)
    max_batch = max(1, math.ceil(config.rate * config.max_batch_seconds))
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=config.base_url, timeout=30.0) as client:
        await client.get("/health")
        pipe.send(("ready",))
        await loop.run_in_executor(None, pipe.recv)
        cpu_from = process_cpu()
        clock = time.perf_counter
        origin = clock()
        result.started_at = time.time()
        while (elapsed := clock() - origin) < config.seconds:
            due = min(total, int((elapsed + config.interval) * config.rate)) - result.sent
            count = min(due, max_batch)
            if count > 0:
                stamp = iso_now()
                deltas = []
                for _ in range(count):
                    if cursor >= len(order):
                        rng.shuffle(order)
                        cursor = 0
                    index = order[cursor]
                    cursor += 1
                    home_cents, away_cents = prices[index]
                    home_cents = walk(rng, home_cents)
                    if rng.random() < 0.5:
                        away_cents = walk(rng, away_cents)
                    prices[index] = (home_cents, away_cents)
                    seqs[index] += 1
                    home, away = config.pairs[index]
                    deltas.append(
                        peer_delta(config.event_ids[index], home, away, seqs[index], prices[index], stamp, forms)
                    )
                body = orjson.dumps(deltas)
                out.payload_bytes += len(body) - 1 - len(deltas)  # less the brackets and commas
                result.sent += count
                result.max_batch = max(result.max_batch, count)
                posted = clock()
                try:
                    response = await client.post("/publish", content=body, headers=headers)
                    response.raise_for_status()
                    published = int(response.json().get("published", 0))
                except (httpx.HTTPError, ValueError) as exc:
                    result.failed_posts += 1
                    result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                else:
                    result.post_ms.append((clock() - posted) * 1000.0)
                    result.posts += 1
                    result.accepted += published
                    result.deltas += published
            tick = (math.floor((clock() - origin) / config.interval) + 1) * config.interval
            delay = tick - (clock() - origin)
            if delay > 0:
                await asyncio.sleep(delay)
        result.seconds = clock() - origin
        result.cpu = process_cpu() - cpu_from
    out.seqs = seqs
    out.prices = prices
    return out


def peer_publisher_main(pipe: Connection, config: PeerPublisherConfig) -> None:
    note = pin(CLIENT_CORE)
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        result = runner.run(peer_publish(pipe, config, note))
    pipe.send(("result", result))
