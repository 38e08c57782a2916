"""The load of the soak run (bench/soak.py), each part in its own process: partner `/ws` subscribers
that reconnect and resume, a publisher with two vendor sources, and a bettor.

Every child talks to the coordinator over a multiprocessing pipe. It first sends ("ready", ...),
then answers commands: ("go",) starts the load (publisher, bettor), ("peek",) returns its cumulative
figures, ("tick",) returns them too and starts a new interval (the subscribers' interval maximum
latency), ("sources", [...]) sets the publisher's live sources, ("stop",) ends the process with its
final figures. Everything returned is cumulative; the coordinator takes differences.

Latency is kept in a log-bucketed histogram (buckets 5 % wide from 0.05 ms to ~5 min) so that any
window's percentiles come from the difference of two cumulative histograms; a percentile is the upper
edge of its bucket (at most 5 % high), the interval maximum is exact.
"""

# ruff: noqa: E402

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import random
import socket
import sys
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.fanout import iso_now, new_loop, process_cpu, update, walk

# --- latency histogram ---------------------------------------------------------------------------

LOWEST_MS = 0.05
RATIO = 1.05
BUCKETS = 320  # the last bucket's upper edge: 0.05 ms x 1.05^319, about 290 s
_LOG_RATIO = math.log(RATIO)


def bucket_of(ms: float) -> int:
    if ms <= LOWEST_MS:
        return 0
    return min(BUCKETS - 1, int(math.log(ms / LOWEST_MS) / _LOG_RATIO) + 1)


def bucket_edge(index: int) -> float:
    return LOWEST_MS * RATIO**index


def _zeros() -> array[int]:
    return array("q", bytes(8 * BUCKETS))


@dataclass(slots=True)
class Histogram:
    counts: array[int] = field(default_factory=_zeros)

    def add(self, ms: float) -> None:
        self.counts[bucket_of(ms)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts)

    def merged(self, other: Histogram) -> Histogram:
        return Histogram(array("q", (a + b for a, b in zip(self.counts, other.counts, strict=True))))

    def minus(self, other: Histogram) -> Histogram:
        return Histogram(array("q", (a - b for a, b in zip(self.counts, other.counts, strict=True))))

    def percentile(self, q: float) -> float:
        total = self.total
        if total <= 0:
            return math.nan
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return bucket_edge(index)
        return bucket_edge(BUCKETS - 1)

    def highest(self) -> float:
        """The upper edge of the highest non-empty bucket (a window's maximum, within 5 %)."""
        for index in range(BUCKETS - 1, -1, -1):
            if self.counts[index]:
                return bucket_edge(index)
        return math.nan


def counter_minus(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0})


# --- subscribers ---------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class SubscriberConfig:
    index: int
    ws_url: str  # through HAProxy
    token: str
    events: list[str]  # the event id of each subscriber of this process
    concurrency: int  # handshakes in flight in this process
    rcvbuf: int | None  # SO_RCVBUF of each socket (small for the group that will stop reading)
    max_queue: int


@dataclass(slots=True)
class SubscriberStats:
    """Cumulative figures of some subscribers (one process's, or summed with `add`)."""

    subscribers: int = 0
    open: int = 0  # connections subscribed right now
    received: int = 0  # delta messages (odds.updated, event.updated), conflated ones included
    gaps: int = 0  # seq jumps that no conflated message or reset snapshot explains
    gap_missing: int = 0  # seqs missing in those jumps
    conflated: int = 0  # messages marked conflated: true
    conflated_skipped: int = 0  # seqs those stood for beyond the one they carry
    resets: int = 0  # snapshots with reset: true (the server could not replay what was missed)
    duplicates: int = 0  # a seq at or below the last one seen (not counted in the latency)
    reconnects: int = 0  # resubscriptions after a lost connection
    connect_failures: int = 0  # connection or handshake attempts that failed
    suspensions: int = 0  # deltas that turned a market suspended
    resumptions: int = 0  # ... and back
    closes: Counter[str] = field(default_factory=Counter)  # why connections ended, by close code
    failures: Counter[str] = field(default_factory=Counter)  # why attempts failed
    errors: Counter[str] = field(default_factory=Counter)  # {"event": "error"} messages by code
    outages: list[float] = field(default_factory=list)  # seconds from a lost connection to subscribed again
    latency: Histogram = field(default_factory=Histogram)
    cpu: float = 0.0

    def add(self, other: SubscriberStats) -> None:
        for name in (
            "subscribers",
            "open",
            "received",
            "gaps",
            "gap_missing",
            "conflated",
            "conflated_skipped",
            "resets",
            "duplicates",
            "reconnects",
            "connect_failures",
            "suspensions",
            "resumptions",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.closes.update(other.closes)
        self.failures.update(other.failures)
        self.errors.update(other.errors)
        self.outages.extend(other.outages)
        self.latency = self.latency.merged(other.latency)
        self.cpu += other.cpu

    def minus(self, before: SubscriberStats) -> SubscriberStats:
        """What happened between `before` and this (the same processes, both cumulative)."""
        window = SubscriberStats(subscribers=self.subscribers, open=self.open)
        for name in (
            "received",
            "gaps",
            "gap_missing",
            "conflated",
            "conflated_skipped",
            "resets",
            "duplicates",
            "reconnects",
            "connect_failures",
            "suspensions",
            "resumptions",
        ):
            setattr(window, name, getattr(self, name) - getattr(before, name))
        window.closes = counter_minus(self.closes, before.closes)
        window.failures = counter_minus(self.failures, before.failures)
        window.errors = counter_minus(self.errors, before.errors)
        window.outages = self.outages[len(before.outages) :]
        window.latency = self.latency.minus(before.latency)
        window.cpu = self.cpu - before.cpu
        return window


@dataclass(slots=True)
class SubscriberReport:
    stats: SubscriberStats
    interval_max: float  # the highest latency since the previous tick, ms (exact)


class _Subscriber:
    __slots__ = ("event_id", "last", "lost_at", "suspended")

    def __init__(self, event_id: str):
        self.event_id = event_id
        self.last = 0  # the last seq seen of the event; 0 until the first snapshot
        self.lost_at: float | None = None
        self.suspended: bool | None = None


class _Refused(Exception):
    """The server answered the subscription with an error."""


def close_reason(exc: ConnectionClosed) -> str:
    if exc.rcvd is not None:
        return f"code {exc.rcvd.code}"
    return "no close frame"


class SubscriberProcess:
    def __init__(self, config: SubscriberConfig):
        self.config = config
        self.stats = SubscriberStats(subscribers=len(config.events))
        self.interval_max = 0.0
        self.stopping = False
        self.subscribed_once = 0
        self.settled = 0  # subscribers that subscribed once, or gave up trying for now
        self.first_round = asyncio.Event()
        self.gate = asyncio.Semaphore(config.concurrency)
        self.sockets: set[ClientConnection] = set()
        self.stamps: dict[str, float] = {}
        target = urlsplit(config.ws_url)
        self.address = (target.hostname or "127.0.0.1", target.port or 80)

    async def _open(self) -> ClientConnection:
        options: dict[str, Any] = {}
        if self.config.rcvbuf is not None:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.rcvbuf)
            raw.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(raw, self.address)
            except OSError:
                raw.close()
                raise
            options["sock"] = raw
        return await connect(
            self.config.ws_url,
            compression=None,
            max_queue=self.config.max_queue,
            max_size=2**22,
            ping_interval=None,  # the server sends heartbeats; a busy client must not be closed by pings
            open_timeout=30,
            close_timeout=2,
            **options,
        )

    async def _handshake(self, sub: _Subscriber) -> ClientConnection:
        ws = await self._open()
        try:
            async with asyncio.timeout(30):
                await ws.send(orjson.dumps({"action": "auth", "token": self.config.token}).decode())
                request: dict[str, Any] = {"action": "subscribe", "channels": [f"event.{sub.event_id}"]}
                if sub.last:
                    request["since"] = {sub.event_id: sub.last}
                else:
                    request["include_history"] = True
                await ws.send(orjson.dumps(request).decode())
                while True:
                    reply = orjson.loads(await ws.recv(decode=False))
                    kind = reply.get("event")
                    if kind == "subscribed":
                        return ws
                    if kind == "error":
                        code = str((reply.get("error") or {}).get("code"))
                        self.stats.errors[code] += 1
                        raise _Refused(code)
        except BaseException:
            ws.transport.abort()
            raise

    async def follow(self, sub: _Subscriber) -> None:
        attempt = 0
        counted = False
        while not self.stopping:
            try:
                async with self.gate:
                    ws = await self._handshake(sub)
            except (OSError, WebSocketException, TimeoutError, _Refused) as exc:
                self.stats.connect_failures += 1
                self.stats.failures[type(exc).__name__] += 1
                attempt += 1
                if attempt == 8 and not counted:
                    counted = True
                    self._first_done()
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.5))
                continue
            attempt = 0
            if sub.lost_at is not None:
                self.stats.outages.append(time.time() - sub.lost_at)
                self.stats.reconnects += 1
                sub.lost_at = None
            if not counted:
                counted = True
                self.subscribed_once += 1
                self._first_done()
            self.stats.open += 1
            self.sockets.add(ws)
            try:
                await self.consume(sub, ws)
            except ConnectionClosed as exc:
                if not self.stopping:
                    self.stats.closes[close_reason(exc)] += 1
            finally:
                self.stats.open -= 1
                self.sockets.discard(ws)
                ws.transport.abort()
            if not self.stopping:
                sub.lost_at = time.time()
                # A real client waits a little (with jitter, so a crowd does not come back at once).
                await asyncio.sleep(random.uniform(0.05, 0.5))

    def _first_done(self) -> None:
        self.settled += 1
        if self.settled >= len(self.config.events):
            self.first_round.set()

    async def consume(self, sub: _Subscriber, ws: ClientConnection) -> None:
        recv = ws.recv
        loads = orjson.loads
        clock = time.time
        stats = self.stats
        latency = stats.latency
        stamps = self.stamps
        while True:
            raw = await recv(decode=False)
            now = clock()
            message = loads(raw)
            kind = message.get("event")
            if kind != "odds.updated" and kind != "event.updated":
                if kind == "snapshot":
                    seq = int(message.get("seq") or 0)
                    if message.get("reset") and sub.last:
                        stats.resets += 1
                    sub.last = max(sub.last, seq)
                elif kind == "error":
                    stats.errors[str((message.get("error") or {}).get("code"))] += 1
                continue
            seq = message["seq"]
            last = sub.last
            conflated = message.get("conflated") is True
            if seq <= last:
                stats.duplicates += 1
                continue
            if last and seq > last + 1:
                if conflated:
                    stats.conflated_skipped += seq - last - 1
                else:
                    stats.gaps += 1
                    stats.gap_missing += seq - last - 1
            if conflated:
                stats.conflated += 1
            sub.last = seq
            suspended = message.get("suspended")
            if suspended is not None and message.get("market_id") is not None:
                if suspended and sub.suspended is False:
                    stats.suspensions += 1
                elif not suspended and sub.suspended:
                    stats.resumptions += 1
                sub.suspended = bool(suspended)
            stamp_text = message.get("timestamp")
            if stamp_text is not None:
                stamp = stamps.get(stamp_text)
                if stamp is None:
                    if len(stamps) > 100_000:
                        stamps.clear()
                    stamp = stamps[stamp_text] = datetime.fromisoformat(stamp_text).timestamp()
                ms = (now - stamp) * 1000.0
                latency.counts[bucket_of(ms)] += 1
                if ms > self.interval_max:
                    self.interval_max = ms
            stats.received += 1

    async def run(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        subs = [_Subscriber(event_id) for event_id in self.config.events]
        tasks = [asyncio.create_task(self.follow(sub)) for sub in subs]
        started = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(240):
                await self.first_round.wait()
        gc.collect()
        gc.freeze()
        conn.send(("ready", self.subscribed_once, len(subs), time.perf_counter() - started, dict(self.stats.failures)))
        cpu_from = process_cpu()
        while True:
            command, _argument = await loop.run_in_executor(None, conn.recv)
            self.stats.cpu = process_cpu() - cpu_from
            if command == "tick":
                conn.send(("tick", SubscriberReport(self.stats, self.interval_max)))
                self.interval_max = 0.0
            elif command == "peek":
                conn.send(("peek", SubscriberReport(self.stats, self.interval_max)))
            elif command == "stop":
                break
        self.stopping = True
        final = SubscriberReport(self.stats, self.interval_max)
        conn.send(("stopped", final))  # pickled here, before any consumer runs again
        for ws in list(self.sockets):
            ws.transport.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def subscriber_main(conn: Connection, config: SubscriberConfig) -> None:
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        runner.run(SubscriberProcess(config).run(conn))


# --- publisher -----------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class PublisherConfig:
    base_url: str  # HAProxy: it sends /api/v2/ingest to the pricer
    token: str
    pairs: list[tuple[str, str]]
    prices: list[tuple[int, int]]  # each event's starting moneyline, in cents
    rate: float  # updates/s over every source together (each live source sends its share)
    sources: tuple[str, ...]
    interval: float
    max_batch_seconds: float
    seed: int
    pricer_url: str | None  # when HAProxy has no pricer to send a batch to (503), it goes here instead


@dataclass(slots=True)
class PublisherStats:
    sent: int = 0  # updates posted
    accepted: int = 0
    rejected: int = 0
    deltas: int = 0
    posts: int = 0
    failed_posts: int = 0  # no answer, or an HTTP error status without per-update rejections
    paused: int = 0  # updates not sent because their source was stopped (the feed fault)
    shed: int = 0  # updates beyond one POST's maximum after a slow answer: never sent
    rejections: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    post_ms: Histogram = field(default_factory=Histogram)
    by_source: Counter[str] = field(default_factory=Counter)  # accepted per source
    balancer_refused: int = 0  # POSTs HAProxy answered 503 itself (no pricer in service)
    direct_posts: int = 0  # of those, sent again straight to the pricer
    direct_accepted: int = 0  # updates the pricer accepted that way
    cpu: float = 0.0


class Publisher:
    def __init__(self, config: PublisherConfig):
        self.config = config
        self.stats = PublisherStats()
        self.rng = random.Random(config.seed)
        self.prices = list(config.prices)
        self.live = set(config.sources)
        self.stopping = False

    async def post(
        self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
    ) -> tuple[httpx.Response | None, dict[str, Any], str]:
        try:
            response = await client.post("/api/v2/ingest", content=body, headers=headers)
            json_body = response.headers.get("content-type", "").startswith("application/json")
            reply = response.json() if json_body else {}
        except (httpx.HTTPError, ValueError) as exc:
            return None, {}, type(exc).__name__
        return response, reply if isinstance(reply, dict) else {}, ""

    async def source(self, client: httpx.AsyncClient, direct: httpx.AsyncClient | None, name: str, offset: int) -> None:
        config, stats, rng = self.config, self.stats, self.rng
        share = config.rate / len(config.sources)
        max_batch = max(1, math.ceil(share * config.max_batch_seconds))
        order = list(range(len(config.pairs)))
        cursor = len(order)
        done = 0
        clock = time.perf_counter
        origin = clock()
        headers = {"content-type": "application/json", "authorization": f"Bearer {config.token}"}
        while not self.stopping:
            elapsed = clock() - origin
            owed = int((elapsed + config.interval) * share) - done
            if owed > 0:
                done += owed
                if name not in self.live:
                    stats.paused += owed
                else:
                    count = min(owed, max_batch)
                    stats.shed += owed - count
                    stamp = iso_now()
                    updates = []
                    for _ in range(count):
                        if cursor >= len(order):
                            rng.shuffle(order)
                            cursor = 0
                        index = order[cursor]
                        cursor += 1
                        home_cents, away_cents = self.prices[index]
                        home_cents = walk(rng, home_cents)
                        if rng.random() < 0.5:
                            away_cents = walk(rng, away_cents)
                        self.prices[index] = (home_cents, away_cents)
                        home, away = config.pairs[index]
                        updates.append(update(home, away, (home_cents + offset, away_cents + offset), stamp))
                    body = orjson.dumps({"source": name, "updates": updates})
                    stats.sent += count
                    posted = clock()
                    response, reply, error = await self.post(client, body, headers)
                    went_direct = False
                    if response is not None and response.status_code == 503 and not reply:
                        # HAProxy's own answer: the pricer is out of service (down, or its /ready failed).
                        stats.balancer_refused += 1
                        if direct is not None:
                            went_direct = True
                            stats.direct_posts += 1
                            response, reply, error = await self.post(direct, body, headers)
                    if response is None:
                        stats.failed_posts += 1
                        stats.failures[error] += 1
                    else:
                        stats.post_ms.add((clock() - posted) * 1000.0)
                        stats.posts += 1
                        accepted = int(reply.get("accepted", 0))
                        stats.accepted += accepted
                        stats.by_source[name] += accepted
                        if went_direct:
                            stats.direct_accepted += accepted
                        stats.deltas += int(reply.get("deltas", 0))
                        rejected = reply.get("rejected") or []
                        stats.rejected += len(rejected)
                        for item in rejected:
                            stats.rejections[str(item.get("code"))] += 1
                        if response.status_code >= 400 and not rejected:
                            # The pricer's own refusals carry a code (UNAVAILABLE: ingest paused
                            # while its audit or Redis backlog is over the limit).
                            code = (reply.get("error") or {}).get("code")
                            stats.failed_posts += 1
                            stats.failures[f"HTTP {response.status_code}" + (f" {code}" if code else "")] += 1
            tick = (math.floor((clock() - origin) / config.interval) + 1) * config.interval
            delay = tick - (clock() - origin)
            if delay > 0:
                await asyncio.sleep(delay)

    async def run(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:
            through: list[httpx.AsyncClient] = []
            direct: list[httpx.AsyncClient | None] = []
            for _ in self.config.sources:
                through.append(
                    await stack.enter_async_context(httpx.AsyncClient(base_url=self.config.base_url, timeout=30.0))
                )
                pricer = self.config.pricer_url
                direct.append(
                    None
                    if pricer is None
                    else await stack.enter_async_context(httpx.AsyncClient(base_url=pricer, timeout=30.0))
                )
            await through[0].get("/health")
            conn.send(("ready",))
            await loop.run_in_executor(None, conn.recv)  # go
            cpu_from = process_cpu()
            tasks = [
                asyncio.create_task(self.source(through[n], direct[n], name, 2 * n))
                for n, name in enumerate(self.config.sources)
            ]
            while True:
                command, argument = await loop.run_in_executor(None, conn.recv)
                self.stats.cpu = process_cpu() - cpu_from
                if command == "sources":
                    self.live = set(argument)
                    conn.send(("sources", sorted(self.live)))
                elif command in ("tick", "peek"):
                    conn.send((command, self.stats))
                elif command == "stop":
                    break
            self.stopping = True
            await asyncio.gather(*tasks, return_exceptions=True)
            self.stats.cpu = process_cpu() - cpu_from
            conn.send(("stopped", self.stats))


def publisher_main(conn: Connection, config: PublisherConfig) -> None:
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        runner.run(Publisher(config).run(conn))


# --- bettor --------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class BettorConfig:
    base_url: str  # HAProxy: it sends bets to a serving gateway
    punters: list[tuple[str, str]]  # (sub, token with bets:place, age verified)
    event_ids: list[str]
    rate: float  # bets/s, open loop
    seed: int
    max_in_flight: int
    attempts: int  # per bet, the same idempotency key each time


@dataclass(slots=True)
class BettorStats:
    attempted: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # the server's answer, by error code
    failed: Counter[str] = field(default_factory=Counter)  # no answer after every attempt, by last error
    retries: int = 0  # attempts after the first (same key and body)
    dropped: int = 0  # not sent: max_in_flight bets were already waiting
    latency: Histogram = field(default_factory=Histogram)  # first send -> final answer, ms
    staked: dict[str, int] = field(default_factory=dict)  # accepted stakes per punter, cents
    unresolved: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # (sub, token, key, body)
    resolved_accepted: int = 0  # of those, accepted when the key was replayed at the end
    cpu: float = 0.0


class Bettor:
    def __init__(self, config: BettorConfig):
        self.config = config
        self.stats = BettorStats()
        self.rng = random.Random(config.seed)
        self.in_flight = 0
        self.stopping = False

    async def place(
        self, client: httpx.AsyncClient, sub: str, token: str, key: str, body: bytes, attempts: int
    ) -> tuple[str, str, int]:
        """('accepted', '', stake cents) | ('refused', code, 0) | ('failed', last error, 0)."""
        headers = {"authorization": f"Bearer {token}", "idempotency-key": key, "content-type": "application/json"}
        last = ""
        for attempt in range(attempts):
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(min(2.0, 0.25 * 2 ** (attempt - 1)))
            try:
                response = await client.post("/api/v2/bets", content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = type(exc).__name__
                continue
            try:
                reply = response.json()
            except ValueError:
                reply = {}
            if response.status_code < 300:
                data = reply.get("data", reply) if isinstance(reply, dict) else {}
                stake = Decimal(str(data.get("stake", "0")))
                return "accepted", "", int(stake * 100)
            code = str(((reply.get("error") or {}) if isinstance(reply, dict) else {}).get("code") or "")
            if response.status_code in (502, 503, 504) or code == "UNAVAILABLE":
                last = f"HTTP {response.status_code} {code}".strip()
                continue  # the balancer had no gateway, or the server said try again
            return "refused", code or f"HTTP {response.status_code}", 0
        return "failed", last, 0

    async def one(self, client: httpx.AsyncClient) -> None:
        rng, stats = self.rng, self.stats
        sub, token = rng.choice(self.config.punters)
        stake = Decimal(rng.randint(100, 500)) / 100
        body = orjson.dumps(
            {
                "event_id": rng.choice(self.config.event_ids),
                "market_id": "moneyline",
                "outcome_id": rng.choice(("home", "away")),
                "stake": str(stake),
                "odds": 2.0,
                "accept": "any",
            }
        )
        key = uuid.uuid4().hex
        started = time.perf_counter()
        try:
            outcome, detail, cents = await self.place(client, sub, token, key, body, self.config.attempts)
        finally:
            self.in_flight -= 1
        stats.latency.add((time.perf_counter() - started) * 1000.0)
        if outcome == "accepted":
            stats.accepted += 1
            stats.staked[sub] = stats.staked.get(sub, 0) + cents
        elif outcome == "refused":
            stats.refused[detail] += 1
        else:
            stats.failed[detail] += 1
            stats.unresolved.append((sub, token, key, body))

    async def load(self, client: httpx.AsyncClient) -> None:
        interval = 1.0 / self.config.rate
        origin = time.perf_counter()
        sent = 0
        tasks: set[asyncio.Task[None]] = set()
        while not self.stopping:
            due = int((time.perf_counter() - origin) / interval) + 1 - sent
            for _ in range(max(0, due)):
                sent += 1
                self.stats.attempted += 1
                if self.in_flight >= self.config.max_in_flight:
                    self.stats.dropped += 1
                    continue
                self.in_flight += 1
                task = asyncio.create_task(self.one(client))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, origin + sent * interval - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    async def resolve(self, client: httpx.AsyncClient) -> None:
        """Bets whose fate is unknown: the same key and body again; the first answer, or a placement now."""
        for sub, token, key, body in list(self.stats.unresolved):
            outcome, _detail, cents = await self.place(client, sub, token, key, body, 5)
            if outcome == "accepted":
                self.stats.resolved_accepted += 1
                self.stats.staked[sub] = self.stats.staked.get(sub, 0) + cents

    async def run(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        limits = httpx.Limits(max_connections=self.config.max_in_flight, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=self.config.base_url, timeout=30.0, limits=limits) as client:
            await client.get("/health")
            conn.send(("ready",))
            await loop.run_in_executor(None, conn.recv)  # go
            cpu_from = process_cpu()
            loader = asyncio.create_task(self.load(client))
            while True:
                command, _argument = await loop.run_in_executor(None, conn.recv)
                self.stats.cpu = process_cpu() - cpu_from
                if command in ("tick", "peek"):
                    conn.send((command, self.stats))
                elif command == "stop":
                    break
            self.stopping = True
            await loader
            await self.resolve(client)
            self.stats.cpu = process_cpu() - cpu_from
            conn.send(("stopped", self.stats))


def bettor_main(conn: Connection, config: BettorConfig) -> None:
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        runner.run(Bettor(config).run(conn))


# --- a probe on the bus --------------------------------------------------------------------------


@dataclass(slots=True)
class ProbeStats:
    """Deltas as an independent Redis subscriber sees them: how late they are on the bus itself."""

    received: int = 0
    lag: Histogram = field(default_factory=Histogram)  # arrival - the delta's timestamp, ms
    reconnects: int = 0


async def probe(conn: Connection, url: str, channel: str) -> None:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    loop = asyncio.get_running_loop()
    stats = ProbeStats()
    stamps: dict[str, float] = {}
    stopping = False

    async def listen() -> None:
        while not stopping:
            client = aioredis.Redis.from_url(url)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(channel)
                while not stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    now = time.time()
                    body = orjson.loads(message["data"])
                    stamp_text = body.get("timestamp") if isinstance(body, dict) else None
                    if stamp_text is None:
                        continue
                    stamp = stamps.get(stamp_text)
                    if stamp is None:
                        if len(stamps) > 100_000:
                            stamps.clear()
                        stamp = stamps[stamp_text] = datetime.fromisoformat(stamp_text).timestamp()
                    stats.lag.add((now - stamp) * 1000.0)
                    stats.received += 1
            except (RedisError, OSError):
                stats.reconnects += 1
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()

    task = asyncio.create_task(listen())
    conn.send(("ready",))
    while True:
        command, _argument = await loop.run_in_executor(None, conn.recv)
        if command in ("tick", "peek"):
            conn.send((command, stats))
        elif command == "stop":
            break
    stopping = True
    conn.send(("stopped", stats))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def probe_main(conn: Connection, config: tuple[str, str]) -> None:
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        runner.run(probe(conn, *config))
