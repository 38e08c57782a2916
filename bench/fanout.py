"""Fan-out benchmark: one real gateway process, many live subscribers, a steady stream of updates.

Run from the repository root:

    .venv/bin/python bench/fanout.py            # 1000 subscribers, 40 events, 2000 updates/s, 20 s per mode
    .venv/bin/python bench/fanout.py --quick    # 100 subscribers, 5 s per mode: a smoke run under a minute
    .venv/bin/python bench/fanout.py --modes cohort,naive --subscribers 500 --rate 1000

For each mode a fresh `oddsgate serve --no-demo` process is started (SQLite in a temporary
directory, log level warning, no demo feed):

    cohort  GraphQL `oddsUpdated` subscriptions over graphql-transport-ws, ODDSGATE_GRAPHQL_COHORTS=true:
            every subscriber of an event sends the same document and variables, so each delta is
            executed and serialized once per event and only wrapped per subscriber
    naive   the same subscriptions with ODDSGATE_GRAPHQL_COHORTS=false: one execution per subscriber
    ws      the partner `/ws` protocol, channel `event.<id>`: one frame per delta shared by every client

Forty NFL events (distinct pairings of the teams in feeds/data/teams_nfl.toml, seeded) are created
with one update each; the subscribers are spread over them with Zipf-like popularity (weight
1/rank^s, seeded draw), so a few events have hundreds of subscribers and most have a handful. Once
every subscriber is connected and subscribed (plus one second for the server), one source publishes
updates at `--rate` updates/s in total, round-robin over the events, as batched POSTs to
/api/v2/ingest: every 10 ms a batch of what is due by then. A POST waits for the previous one (one
source's updates stay in order), so when the server answers slowly the next batch carries the
updates that fell due meanwhile, up to `--max-batch-seconds` of them (0.5 s: 1000 updates at 2000/s);
only a server slower than that lowers the achieved rate, which is printed. Every update moves the
moneyline by a random walk on two-decimal odds between 1.30 and 4.00, so every accepted update is a
delta. After `--seconds` publishing stops and the subscribers get `--drain` seconds (longer while
messages still arrive, up to 10 s more).

Processes and cores (the machine this was written for has two): the server is pinned to core 0;
the coordinator, the publisher process and `--procs` subscriber processes are pinned to core 1. The
load generator is Python too, so it can be the bottleneck: its CPU time and the busy share of each
core (from /proc/stat) are printed; when core 1 is close to 100 % busy the delivered figures are a
floor set by the client, not the server's ceiling.

The figures, per mode:

    ingest          updates accepted per second of publishing (achieved, not the target), POST latency
    expected        sum over subscribers of the deltas of their event during the run (the event's seq
                    after the run minus its seq before), i.e. what a client that keeps up receives
    received        delta messages the subscribers got (conflated ones included)
    delivered/s     received / (last message received - first update sent)
    latency         client receive time - the delta's `timestamp` (the server clock when the book
                    applied the update; same machine). It includes queueing in the server's outboxes
                    and in the subscriber processes: a saturated client shows up here too
    gaps            a seq jump for one subscriber and event that no `conflated: true` message explains
    conflated       messages marked `conflated: true` (the server folded deltas for a slow client);
                    the seqs they skip are counted apart, not as gaps
    not delivered   deltas of the run that no message to that subscriber covered by the end
    server          RSS (VmRSS) at the end, CPU seconds (utime+stime) from subscription to the end of
                    the drain, and that as a share of one core
    generator       CPU seconds of the subscriber processes and the publisher over the same window

Nothing here asserts on time: it measures and prints. The targets the project set (cohorts at
least 5x the naive path in delivered messages/s, p99 under 50 ms, no gaps) are printed as met or not.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import multiprocessing
import os
import platform
import random
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from bench import cpu_model
from feeds.aliases import DATA_DIR
from gateway.access import token_service
from gateway.settings import Settings

QUERY = (
    # Live deltas only: the peers compared with send no snapshot either.
    "subscription Odds($ids: [String!]) { oddsUpdated(eventIds: $ids, snapshot: false) { eventId seq marketId "
    "suspended timestamp conflated outcomes { id odds { decimal american fractional } } } }"
)
GRAPHQL_PROTOCOL = Subprotocol("graphql-transport-ws")
START_TIME = "2026-11-30T20:20:00Z"
SOURCE = "vendor_a"
BENCH_SECRET = "oddsgate-fanout-bench-secret-0123456789"
# Every process of the benchmark signs its own token with the server's secret.
TOKEN = token_service(Settings(jwt_secret=BENCH_SECRET)).issue(
    "bench", ["odds:read", "odds:ingest"], ttl=timedelta(hours=6)
)[0]
BEARER = f"Bearer {TOKEN}"
MIN_CENTS, MAX_CENTS = 130, 400
STEPS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)
SERVER_CORE, CLIENT_CORE = 0, 1
DRAIN_EXTRA = 10.0  # seconds the drain may run past --drain while messages still arrive


@dataclass(slots=True, frozen=True)
class Mode:
    name: str
    path: str
    cohorts: bool
    description: str

    @property
    def graphql(self) -> bool:
        return self.path == "/graphql"


MODES = {
    "cohort": Mode("cohort", "/graphql", True, "GraphQL subscriptions, cohorts on (ODDSGATE_GRAPHQL_COHORTS=true)"),
    "naive": Mode("naive", "/graphql", False, "GraphQL subscriptions, per subscriber (ODDSGATE_GRAPHQL_COHORTS=false)"),
    "ws": Mode("ws", "/ws", True, "partner /ws, channel event.<id>"),
}


# --- workload ------------------------------------------------------------------------------------


def nfl_teams() -> list[str]:
    data = tomllib.loads((DATA_DIR / "teams_nfl.toml").read_text(encoding="utf-8"))
    return [str(team["name"]) for team in data["teams"]]


def pairings(rng: random.Random, count: int) -> list[tuple[str, str]]:
    teams = nfl_teams()
    pairs = [(home, away) for home in teams for away in teams if home != away]
    if count > len(pairs):
        raise SystemExit(f"--events {count}: only {len(pairs)} distinct NFL pairings exist")
    rng.shuffle(pairs)
    return pairs[:count]


def popularity(events: int, exponent: float) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(events)]


def assign(rng: random.Random, subscribers: int, events: int, exponent: float) -> list[int]:
    """The event index of each subscriber: Zipf-like weights over a seeded ranking of the events."""
    ranking = list(range(events))
    rng.shuffle(ranking)
    weights = [0.0] * events
    for rank, weight in zip(ranking, popularity(events, exponent), strict=True):
        weights[rank] = weight
    return rng.choices(range(events), weights=weights, k=subscribers)


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def update(home: str, away: str, cents: tuple[int, int], timestamp: str) -> dict[str, Any]:
    return {
        "sport": "NFL",
        "league": "NFL",
        "home_team": home,
        "away_team": away,
        "start_time": START_TIME,
        "status": "live",
        "market": "moneyline",
        "line": None,
        "outcomes": [{"id": "home", "odds": cents[0] / 100}, {"id": "away", "odds": cents[1] / 100}],
        "timestamp": timestamp,
    }


def walk(rng: random.Random, cents: int) -> int:
    """One step of the random walk; never the same price, never outside 1.30-4.00."""
    step = rng.choice(STEPS)
    moved = cents + step
    return moved if MIN_CENTS <= moved <= MAX_CENTS else cents - step


# --- small measurements --------------------------------------------------------------------------


def pin(core: int) -> str | None:
    """Pin this process to one core; the reason it could not be, or None."""
    try:
        os.sched_setaffinity(0, {core})
    except (OSError, AttributeError, ValueError) as exc:
        return f"could not pin to core {core}: {exc}"
    return None


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pid_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds, from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return math.nan
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def core_times() -> dict[str, tuple[int, int]]:
    """Per core: (busy, total) jiffies from /proc/stat."""
    times: dict[str, tuple[int, int]] = {}
    try:
        lines = Path("/proc/stat").read_text(encoding="ascii").splitlines()
    except OSError:
        return times
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            numbers = [int(v) for v in values[:8]]
            idle = numbers[3] + numbers[4]
            times[name] = (sum(numbers) - idle, sum(numbers))
    return times


def core_busy(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, float]:
    busy: dict[str, float] = {}
    for name, (b1, t1) in after.items():
        b0, t0 = before.get(name, (0, 0))
        if t1 > t0:
            busy[name] = (b1 - b0) / (t1 - t0)
    return busy


def percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def new_loop() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed (as uvicorn picks for the server), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


# --- subscriber processes ------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class WorkerConfig:
    index: int
    url: str
    graphql: bool
    subscribers: list[str]  # the event id of each subscriber of this process
    max_queue: int
    concurrency: int


@dataclass(slots=True)
class Deliveries:
    """Delivery counters of subscribers: one process's (kept by its Tally) or a mode's (summed with `add`)."""

    received: int = 0  # deltas after arming, conflated ones included
    pre_run: int = 0  # deltas before arming
    conflated: int = 0
    conflated_no_skip: int = 0
    skipped_by_conflation: int = 0
    gaps: int = 0
    gap_missing: int = 0
    backwards: int = 0
    errors: int = 0
    resyncs: int = 0
    control: Counter[str] = field(default_factory=Counter)  # other messages, by type
    closes: Counter[str] = field(default_factory=Counter)  # closed by the server, by reason
    first_rx: float = 0.0  # time.time() of the first delta received after arming, 0 if none
    last_rx: float = 0.0  # ... and of the last

    def add(self, other: Deliveries) -> None:
        """Fold in another tally: the counts add up, the receive window spans both."""
        if other.received:
            self.first_rx = min(self.first_rx, other.first_rx) if self.received else other.first_rx
            self.last_rx = max(self.last_rx, other.last_rx)
        self.received += other.received
        self.pre_run += other.pre_run
        self.conflated += other.conflated
        self.conflated_no_skip += other.conflated_no_skip
        self.skipped_by_conflation += other.skipped_by_conflation
        self.gaps += other.gaps
        self.gap_missing += other.gap_missing
        self.backwards += other.backwards
        self.errors += other.errors
        self.resyncs += other.resyncs
        self.control.update(other.control)
        self.closes.update(other.closes)


@dataclass(slots=True)
class WorkerResult:
    index: int
    connected: int = 0
    failed: int = 0
    connect_errors: list[str] = field(default_factory=list)
    connect_seconds: float = 0.0
    deliveries: Deliveries = field(default_factory=Deliveries)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    last_seq: list[tuple[str, int]] = field(default_factory=list)
    cpu: float = 0.0
    wall: float = 0.0
    pin_note: str | None = None


class Subscriber:
    __slots__ = ("event_id", "last", "ws")

    def __init__(self, event_id: str):
        self.event_id = event_id
        self.last = 0
        self.ws: ClientConnection | None = None


class Tally:
    """What one subscriber process has seen, summed over its subscribers."""

    def __init__(self, graphql: bool):
        self.graphql = graphql
        self.armed = False
        self.stopping = False
        self.deliveries = Deliveries()
        self.latencies: list[float] = []
        self.stamps: dict[str, float] = {}

    async def consume(self, sub: Subscriber, ws: ClientConnection) -> None:
        recv = ws.recv
        loads = orjson.loads
        clock = time.time
        counts = self.deliveries
        latencies = self.latencies
        stamps = self.stamps
        graphql = self.graphql
        try:
            while True:
                raw = await recv(decode=False)
                now = clock()
                message = loads(raw)
                if graphql:
                    kind = message.get("type")
                    if kind != "next":
                        if kind == "ping":
                            await ws.send('{"type":"pong"}')
                        counts.control[str(kind)] += 1
                        continue
                    data = message["payload"].get("data")
                    body = data.get("oddsUpdated") if data else None
                    if body is None:
                        counts.errors += 1
                        continue
                else:
                    kind = message.get("event")
                    if kind != "odds.updated" and kind != "event.updated":
                        counts.control[str(kind)] += 1
                        if kind == "snapshot" and self.armed and message.get("reset"):
                            # The server told this client to start over from a snapshot.
                            counts.resyncs += 1
                            sub.last = max(sub.last, int(message.get("seq") or 0))
                        continue
                    body = message
                if not self.armed:
                    counts.pre_run += 1
                    continue
                seq = body["seq"]
                last = sub.last
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
                stamp_text = body["timestamp"]
                stamp = stamps.get(stamp_text)
                if stamp is None:
                    if len(stamps) > 100_000:
                        stamps.clear()
                    stamp = stamps[stamp_text] = datetime.fromisoformat(stamp_text).timestamp()
                latencies.append((now - stamp) * 1000.0)
                if not counts.received:
                    counts.first_rx = now
                counts.received += 1
                counts.last_rx = now
        except ConnectionClosed as exc:
            if not self.stopping:
                counts.closes[close_reason(exc)] += 1


def close_reason(exc: ConnectionClosed) -> str:
    if exc.rcvd is not None:
        return f"code {exc.rcvd.code} {exc.rcvd.reason!r}".strip()
    return "no close frame (connection lost)"


async def open_subscriber(sub: Subscriber, config: WorkerConfig, errors: list[str]) -> ClientConnection | None:
    error = ""
    for attempt in range(3):
        ws: ClientConnection | None = None
        try:
            ws = await connect(
                config.url,
                subprotocols=[GRAPHQL_PROTOCOL] if config.graphql else None,
                compression=None,
                max_queue=config.max_queue,
                max_size=2**22,
                ping_interval=None,  # a busy server must not get its clients closed by ping timeouts
                open_timeout=30,
                close_timeout=2,
            )
            async with asyncio.timeout(30):
                if config.graphql:
                    await ws.send(
                        orjson.dumps({"type": "connection_init", "payload": {"authorization": BEARER}}).decode()
                    )
                    while orjson.loads(await ws.recv(decode=False)).get("type") != "connection_ack":
                        pass
                    body = {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": QUERY, "variables": {"ids": [sub.event_id]}},
                    }
                    await ws.send(orjson.dumps(body).decode())
                else:
                    await ws.send(orjson.dumps({"action": "auth", "token": TOKEN}).decode())
                    await ws.send(orjson.dumps({"action": "subscribe", "channels": [f"event.{sub.event_id}"]}).decode())
                    while True:
                        reply = orjson.loads(await ws.recv(decode=False))
                        if reply.get("event") == "subscribed":
                            break
                        if reply.get("event") == "error":
                            raise RuntimeError(f"subscribe refused: {reply.get('error')}")
        except (OSError, WebSocketException, TimeoutError, RuntimeError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if ws is not None:
                ws.transport.abort()
            await asyncio.sleep(0.25 * (attempt + 1))
            continue
        return ws
    errors.append(error)
    return None


async def subscriber_process(conn: Connection, config: WorkerConfig, pin_note: str | None) -> None:
    loop = asyncio.get_running_loop()
    tally = Tally(config.graphql)
    result = WorkerResult(config.index, pin_note=pin_note)
    subs = [Subscriber(event_id) for event_id in config.subscribers]
    gate = asyncio.Semaphore(config.concurrency)
    tasks: list[asyncio.Task[None]] = []

    async def start(sub: Subscriber) -> None:
        async with gate:
            sub.ws = await open_subscriber(sub, config, result.connect_errors)
        if sub.ws is not None:
            tasks.append(asyncio.create_task(tally.consume(sub, sub.ws)))

    started = time.perf_counter()
    await asyncio.gather(*(start(sub) for sub in subs))
    result.connect_seconds = time.perf_counter() - started
    live = [sub for sub in subs if sub.ws is not None]
    result.connected, result.failed = len(live), len(subs) - len(live)
    gc.collect()
    gc.freeze()
    conn.send(("ready", result.connected, result.failed, result.connect_seconds, result.connect_errors[:5]))
    cpu_from = process_cpu()
    wall_from = time.perf_counter()
    while True:
        command, argument = await loop.run_in_executor(None, conn.recv)
        if command == "arm":
            baselines: dict[str, int] = argument
            for sub in subs:
                sub.last = baselines.get(sub.event_id, 0)
            tally.armed = True
            cpu_from, wall_from = process_cpu(), time.perf_counter()
            conn.send(("armed",))
        elif command == "poll":
            conn.send(("poll", tally.deliveries.received, tally.deliveries.last_rx))
        elif command == "stop":
            break
    tally.stopping = True
    result.cpu = process_cpu() - cpu_from
    result.wall = time.perf_counter() - wall_from
    result.deliveries = tally.deliveries  # pickled by the send below, before any consumer runs again
    result.latencies = array("d", tally.latencies)
    result.last_seq = [(sub.event_id, sub.last) for sub in live]
    conn.send(("result", result))
    closing = [asyncio.create_task(sub.ws.close()) for sub in live if sub.ws is not None]
    if closing:
        await asyncio.wait(closing, timeout=5)
    for sub in live:
        if sub.ws is not None:
            sub.ws.transport.abort()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def subscriber_main(conn: Connection, config: WorkerConfig) -> None:
    note = pin(CLIENT_CORE)
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        runner.run(subscriber_process(conn, config, note))


# --- publisher process ---------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class PublisherConfig:
    base_url: str
    pairs: list[tuple[str, str]]
    prices: list[tuple[int, int]]
    rate: float
    seconds: float
    interval: float
    max_batch_seconds: float
    seed: int


@dataclass(slots=True)
class PublisherResult:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    first_rejection: str = ""
    deltas: int = 0
    posts: int = 0
    failed_posts: int = 0
    first_error: str = ""
    seconds: float = 0.0
    max_batch: int = 0
    post_ms: list[float] = field(default_factory=list)
    cpu: float = 0.0
    started_at: float = 0.0  # time.time() of the first POST
    pin_note: str | None = None


async def publish(conn: Connection, config: PublisherConfig, pin_note: str | None) -> PublisherResult:
    loop = asyncio.get_running_loop()
    rng = random.Random(config.seed)
    prices = list(config.prices)
    order = list(range(len(config.pairs)))
    cursor = len(order)
    result = PublisherResult(pin_note=pin_note)
    total = round(config.rate * config.seconds)
    # A server that answers slowly gets bigger bodies (the rate is kept) up to this, then a lower rate.
    max_batch = max(1, math.ceil(config.rate * config.max_batch_seconds))
    headers = {"content-type": "application/json", "authorization": BEARER}
    async with httpx.AsyncClient(base_url=config.base_url, timeout=30.0) as client:
        await client.get("/health")
        conn.send(("ready",))
        await loop.run_in_executor(None, conn.recv)
        cpu_from = process_cpu()
        clock = time.perf_counter
        origin = clock()
        result.started_at = time.time()
        while (elapsed := clock() - origin) < config.seconds:
            due = min(total, int((elapsed + config.interval) * config.rate)) - result.sent
            count = min(due, max_batch)
            if count > 0:
                stamp = iso_now()
                updates = []
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
                    home, away = config.pairs[index]
                    updates.append(update(home, away, prices[index], stamp))
                body = orjson.dumps({"source": SOURCE, "updates": updates})
                result.sent += count
                result.max_batch = max(result.max_batch, count)
                posted = clock()
                try:
                    response = await client.post("/api/v2/ingest", content=body, headers=headers)
                    reply = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    result.failed_posts += 1
                    result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                else:
                    result.post_ms.append((clock() - posted) * 1000.0)
                    result.posts += 1
                    result.accepted += int(reply.get("accepted", 0))
                    result.deltas += int(reply.get("deltas", 0))
                    rejected = reply.get("rejected") or []
                    result.rejected += len(rejected)
                    if rejected and not result.first_rejection:
                        result.first_rejection = str(rejected[0])[:200]
                    if response.status_code >= 400 and not rejected:
                        result.failed_posts += 1
                        result.first_error = result.first_error or f"HTTP {response.status_code}: {response.text[:200]}"
            tick = (math.floor((clock() - origin) / config.interval) + 1) * config.interval
            delay = tick - (clock() - origin)
            if delay > 0:
                await asyncio.sleep(delay)
        result.seconds = clock() - origin
        result.cpu = process_cpu() - cpu_from
    return result


def publisher_main(conn: Connection, config: PublisherConfig) -> None:
    note = pin(CLIENT_CORE)
    with asyncio.Runner(loop_factory=new_loop()) as runner:
        result = runner.run(publish(conn, config, note))
    conn.send(("result", result))


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pin_server() -> None:
    with contextlib.suppress(OSError, AttributeError, ValueError):
        os.sched_setaffinity(0, {SERVER_CORE})


class Server:
    def __init__(self, mode: Mode, workdir: Path, args: argparse.Namespace):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ODDSGATE_")}
        env.update(
            ODDSGATE_PORT=str(self.port),
            ODDSGATE_HOST="127.0.0.1",
            ODDSGATE_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            ODDSGATE_LOG_LEVEL="warning",
            # Clients carry a token signed with this; the limits are the load's, not a partner's.
            ODDSGATE_JWT_SECRET=BENCH_SECRET,
            ODDSGATE_DEFAULT_RATE_LIMIT="100000000/minute",
            ODDSGATE_WS_MESSAGE_RATE="100000/second",
            ODDSGATE_GRAPHQL_COHORTS="true" if mode.cohorts else "false",
            ODDSGATE_CLIENT_QUEUE=str(args.client_queue),
            ODDSGATE_SLOW_CLIENT_SECONDS=str(args.slow_client_seconds),
        )
        script = Path(sys.executable).parent / "oddsgate"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]
        self.command = [*command, "serve", "--no-demo"]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin_server if args.pin else None,
        )
        self.pid = self.process.pid

    def wait_healthy(self, within: float = 60.0) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < within:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return time.perf_counter() - started
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {within:g} s:\n{self.log_tail()}")

    def affinity(self) -> list[int]:
        try:
            return sorted(os.sched_getaffinity(self.pid))
        except OSError:
            return []

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_lines()[-lines:])


# --- one mode ------------------------------------------------------------------------------------


@dataclass(slots=True)
class ModeResult:
    mode: Mode
    subscribers: int = 0
    connected: int = 0
    failed: int = 0
    connect_seconds: float = 0.0
    connect_errors: list[str] = field(default_factory=list)
    publisher: PublisherResult = field(default_factory=PublisherResult)
    expected: int = 0
    covered: int = 0
    deliveries: Deliveries = field(default_factory=Deliveries)
    delivery_seconds: float = 0.0
    drain_seconds: float = 0.0
    p50: float = math.nan
    p99: float = math.nan
    p999: float = math.nan
    max_latency: float = math.nan
    server_rss: float = math.nan
    server_cpu: float = math.nan
    window: float = 0.0
    worker_cpu: list[float] = field(default_factory=list)
    worker_wall: list[float] = field(default_factory=list)
    busy: dict[str, float] = field(default_factory=dict)
    server_affinity: list[int] = field(default_factory=list)
    server_exit: int | None = None
    log: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ingest_rate(self) -> float:
        return self.publisher.accepted / self.publisher.seconds if self.publisher.seconds else 0.0

    @property
    def delivered_rate(self) -> float:
        return self.deliveries.received / self.delivery_seconds if self.delivery_seconds > 0 else 0.0

    @property
    def generator_cpu(self) -> float:
        return sum(self.worker_cpu) + self.publisher.cpu


def seqs(client: httpx.Client) -> dict[tuple[str, str], tuple[str, int]]:
    reply = client.get("/api/v2/odds", params={"limit": 500})
    reply.raise_for_status()
    return {(e["home_team"], e["away_team"]): (e["id"], int(e["seq"])) for e in reply.json()["data"]}


def expect(conn: Connection, kind: str, within: float) -> tuple[Any, ...]:
    if not conn.poll(within):
        raise RuntimeError(f"no {kind!r} from a child process within {within:g} s")
    message: tuple[Any, ...] = conn.recv()
    if message[0] != kind:
        raise RuntimeError(f"expected {kind!r} from a child process, got {message[0]!r}")
    return message


def run_mode(mode: Mode, args: argparse.Namespace, pairs: list[tuple[str, str]], events_of: list[int]) -> ModeResult:
    result = ModeResult(mode, subscribers=len(events_of))
    rng = random.Random(args.seed)
    prices = [(rng.randint(MIN_CENTS, MAX_CENTS), rng.randint(MIN_CENTS, MAX_CENTS)) for _ in pairs]
    context = multiprocessing.get_context("spawn")
    children: list[multiprocessing.process.BaseProcess] = []
    pipes: list[Connection] = []
    with tempfile.TemporaryDirectory(prefix="oddsgate-fanout-") as tmp:
        server = Server(mode, Path(tmp), args)
        try:
            took = server.wait_healthy()
            result.server_affinity = server.affinity()
            print(f"[{mode.name}] server pid {server.pid} healthy after {took:.1f} s on port {server.port}", flush=True)
            with httpx.Client(base_url=server.base_url, timeout=30.0, headers={"authorization": BEARER}) as client:
                stamp = iso_now()
                seed = [update(home, away, cents, stamp) for (home, away), cents in zip(pairs, prices, strict=True)]
                reply = client.post("/api/v2/ingest", content=orjson.dumps({"source": SOURCE, "updates": seed}))
                body = reply.json()
                if body.get("accepted") != len(pairs):
                    raise RuntimeError(f"seeding the events failed: HTTP {reply.status_code} {reply.text[:500]}")
                found = seqs(client)
                event_ids = [found[pair][0] for pair in pairs]

                # Subscribers: round-robin over the processes, so each has popular and quiet events.
                per_worker: list[list[str]] = [[] for _ in range(args.procs)]
                for number, event in enumerate(events_of):
                    per_worker[number % args.procs].append(event_ids[event])
                url = f"ws://127.0.0.1:{server.port}{mode.path}"
                concurrency = max(1, args.connect_concurrency // args.procs)
                for index, subs in enumerate(per_worker):
                    parent, child = context.Pipe()
                    config = WorkerConfig(index, url, mode.graphql, subs, args.max_queue, concurrency)
                    process = context.Process(target=subscriber_main, args=(child, config), daemon=True)
                    process.start()
                    children.append(process)
                    pipes.append(parent)
                publisher_pipe, child = context.Pipe()
                publisher_config = PublisherConfig(
                    server.base_url,
                    pairs,
                    prices,
                    args.rate,
                    args.seconds,
                    args.interval,
                    args.max_batch_seconds,
                    args.seed + 1,
                )
                publisher = context.Process(target=publisher_main, args=(child, publisher_config), daemon=True)
                publisher.start()
                children.append(publisher)

                for pipe in pipes:
                    _, connected, failed, seconds, errors = expect(pipe, "ready", 300.0)
                    result.connected += connected
                    result.failed += failed
                    result.connect_seconds = max(result.connect_seconds, seconds)
                    result.connect_errors.extend(errors)
                expect(publisher_pipe, "ready", 60.0)
                print(
                    f"[{mode.name}] {result.connected} subscribers connected ({result.failed} failed) "
                    f"in {result.connect_seconds:.1f} s; settling 1 s",
                    flush=True,
                )
                time.sleep(1.0)

                baseline = dict(seqs(client).values())
                for pipe in pipes:
                    pipe.send(("arm", baseline))
                for pipe in pipes:
                    expect(pipe, "armed", 30.0)
                cpu_before = pid_cpu(server.pid)
                cores_before = core_times()
                window_from = time.perf_counter()
                publisher_pipe.send(("go", None))
                print(f"[{mode.name}] publishing {args.rate:,.0f} updates/s for {args.seconds:g} s", flush=True)
                _, publisher_result = expect(publisher_pipe, "result", args.seconds + 120.0)
                result.publisher = publisher_result
                drain_from = time.perf_counter()
                while True:
                    time.sleep(0.25)
                    now = time.time()
                    last_rx = 0.0
                    for pipe in pipes:
                        pipe.send(("poll", None))
                    for pipe in pipes:
                        last_rx = max(last_rx, expect(pipe, "poll", 30.0)[2])
                    waited = time.perf_counter() - drain_from
                    if waited >= args.drain and (now - last_rx > 0.5 or waited >= args.drain + DRAIN_EXTRA):
                        break
                result.drain_seconds = time.perf_counter() - drain_from
                result.window = time.perf_counter() - window_from
                result.server_cpu = pid_cpu(server.pid) - cpu_before
                result.busy = core_busy(cores_before, core_times())
                result.server_rss = pid_rss_mib(server.pid)
                final = dict(seqs(client).values())

            for pipe in pipes:
                pipe.send(("stop", None))
            workers: list[WorkerResult] = [expect(pipe, "result", 120.0)[1] for pipe in pipes]
            collect(result, workers, baseline, final)
            for worker in workers:
                if worker.pin_note:
                    result.notes.append(f"subscriber process {worker.index}: {worker.pin_note}")
            if result.publisher.pin_note:
                result.notes.append(f"publisher: {result.publisher.pin_note}")
        finally:
            for child_process in children:
                child_process.join(10)
                if child_process.is_alive():
                    child_process.terminate()
                    child_process.join(5)
            result.server_exit = server.stop()
            result.log = server.log_lines()
    return result


def collect(result: ModeResult, workers: list[WorkerResult], baseline: dict[str, int], final: dict[str, int]) -> None:
    latencies: list[float] = []
    for worker in workers:
        result.deliveries.add(worker.deliveries)
        result.worker_cpu.append(worker.cpu)
        result.worker_wall.append(worker.wall)
        latencies.extend(worker.latencies)
        for event_id, last in worker.last_seq:
            start, end = baseline.get(event_id, 0), final.get(event_id, 0)
            result.expected += end - start
            result.covered += min(end, max(last, start)) - start
    if result.deliveries.received and result.publisher.started_at:
        result.delivery_seconds = result.deliveries.last_rx - result.publisher.started_at
    latencies.sort()
    result.p50 = percentile(latencies, 0.50)
    result.p99 = percentile(latencies, 0.99)
    result.p999 = percentile(latencies, 0.999)
    result.max_latency = latencies[-1] if latencies else math.nan


# --- output --------------------------------------------------------------------------------------


def print_mode(result: ModeResult, args: argparse.Namespace, events_of: list[int]) -> None:
    mode, pub, seen = result.mode, result.publisher, result.deliveries
    print(f"[{mode.name}] server affinity: cores {result.server_affinity or 'unknown'}")
    counts = Counter(events_of)
    print(
        f"[{mode.name}] subscribers: {result.connected:,} of {result.subscribers:,} connected ({result.failed} failed) "
        f"over {len(counts)} events in {args.procs} processes; connect {result.connect_seconds:.1f} s; "
        f"per event max {max(counts.values())}, min {min(counts.values())}"
    )
    for error in result.connect_errors[:5]:
        print(f"[{mode.name}] CONNECT ERROR: {error}")
    posts = sorted(pub.post_ms)
    print(
        f"[{mode.name}] ingest: {pub.sent:,} updates sent in {pub.posts:,} POSTs over {pub.seconds:.2f} s = "
        f"{pub.sent / pub.seconds if pub.seconds else 0:,.0f} updates/s sent, {result.ingest_rate:,.0f} accepted/s "
        f"(target {args.rate:,.0f}); accepted {pub.accepted:,}, rejected {pub.rejected:,}, deltas {pub.deltas:,}; "
        f"largest batch {pub.max_batch}; POST p50 {percentile(posts, 0.5):.1f} ms, "
        f"p99 {percentile(posts, 0.99):.1f} ms, "
        f"max {posts[-1] if posts else math.nan:.1f} ms"
    )
    if pub.rejected:
        print(f"[{mode.name}] REJECTED: first: {pub.first_rejection}")
    if pub.failed_posts:
        print(f"[{mode.name}] FAILED POSTS: {pub.failed_posts}, first: {pub.first_error}")
    share = seen.received / result.expected if result.expected else math.nan
    print(
        f"[{mode.name}] deliveries: expected {result.expected:,}, received {seen.received:,} ({share:.1%}); "
        f"deltas not covered by any message at the end: {result.expected - result.covered:,}"
    )
    print(
        f"[{mode.name}] delivered: {result.delivered_rate:,.0f} messages/s "
        f"(received / {result.delivery_seconds:.2f} s from the first POST to the last message; "
        f"drain {result.drain_seconds:.1f} s)"
    )
    print(
        f"[{mode.name}] latency (receive - delta timestamp): p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms, "
        f"p99.9 {result.p999:.1f} ms, max {result.max_latency:.1f} ms"
    )
    print(
        f"[{mode.name}] gaps: {seen.gaps:,} ({seen.gap_missing:,} seqs missing without a conflated message); "
        f"conflated messages: {seen.conflated:,} (skipping {seen.skipped_by_conflation:,} seqs; "
        f"{seen.conflated_no_skip:,} of them skipped none); out of order/duplicate: {seen.backwards:,}; "
        f"GraphQL errors: {seen.errors:,}; snapshot resyncs: {seen.resyncs:,}; before the run: {seen.pre_run:,}"
    )
    if seen.control:
        print(f"[{mode.name}] other messages: {dict(seen.control)}")
    closes = ", ".join(f"{n} x {reason}" for reason, n in seen.closes.most_common()) or "none"
    print(f"[{mode.name}] connections closed by the server during the run: {closes}")
    busy = ", ".join(f"{name} {share:.0%}" for name, share in sorted(result.busy.items()))
    print(
        f"[{mode.name}] server: RSS {result.server_rss:.1f} MiB at the end; CPU {result.server_cpu:.1f} s over "
        f"{result.window:.1f} s ({result.server_cpu / result.window:.0%} of a core); {exit_text(result.server_exit)}"
    )
    workers = ", ".join(f"{cpu:.1f}" for cpu in result.worker_cpu)
    wall = max(result.worker_wall, default=0.0)
    print(
        f"[{mode.name}] generator: subscriber processes CPU {sum(result.worker_cpu):.1f} s [{workers}] "
        f"over {wall:.1f} s "
        f"({sum(result.worker_cpu) / wall if wall else math.nan:.0%} of a core), publisher CPU {pub.cpu:.1f} s; "
        f"cores busy (/proc/stat): {busy}"
    )
    client_busy = result.busy.get(f"cpu{CLIENT_CORE}", 0.0)
    if args.pin and client_busy > 0.9:
        print(
            f"[{mode.name}] NOTE: core {CLIENT_CORE} (the load generator) was {client_busy:.0%} busy: the client may "
            "be the bottleneck; delivered/s and latency are then a floor, not the server's ceiling"
        )
    for note in result.notes:
        print(f"[{mode.name}] NOTE: {note}")
    print(f"[{mode.name}] server log: {len(result.log)} lines")
    for line in result.log[:15]:
        print(f"[{mode.name}]   | {line}")
    if len(result.log) > 15:
        print(f"[{mode.name}]   | ... ({len(result.log) - 15} more)")


def exit_text(code: int | None) -> str:
    if code == -signal.SIGTERM:
        return "exit: SIGTERM (uvicorn re-raises the signal after a graceful shutdown)"
    return f"exit code {code}"


def print_summary(results: list[ModeResult]) -> None:
    header = (
        f"{'mode':<7}{'ingest/s':>10}{'deliv/s':>10}{'expected':>11}{'received':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'gaps':>7}{'conflated':>11}{'RSS MiB':>9}{'srv CPU s':>10}{'gen CPU s':>10}"
    )
    print()
    print("summary")
    print(header)
    print("-" * len(header))
    for r in results:
        seen = r.deliveries
        print(
            f"{r.mode.name:<7}{r.ingest_rate:>10,.0f}{r.delivered_rate:>10,.0f}{r.expected:>11,}{seen.received:>11,}"
            f"{r.p50:>9.1f}{r.p99:>9.1f}{r.max_latency:>9.1f}{seen.gaps:>7,}{seen.conflated:>11,}{r.server_rss:>9.1f}"
            f"{r.server_cpu:>10.1f}{r.generator_cpu:>10.1f}"
        )
    by_name = {r.mode.name: r for r in results}
    cohort, naive = by_name.get("cohort"), by_name.get("naive")
    if cohort is not None and naive is not None:
        ratio = cohort.delivered_rate / naive.delivered_rate if naive.delivered_rate else math.inf
        print(f"delivered/s cohort vs naive: {ratio:.2f}x (target >= 5x: {'met' if ratio >= 5 else 'not met'})")
        print(f"naive p99 latency: {naive.p99:.1f} ms")
    for r in results:
        p99_met = "met" if r.p99 < 50 else "not met"
        gaps = r.deliveries.gaps
        gaps_met = "met" if gaps == 0 else "not met"
        print(f"targets {r.mode.name}: p99 < 50 ms {p99_met} ({r.p99:.1f} ms); 0 gaps {gaps_met} ({gaps:,})")


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=1000, help="live subscribers per mode (default 1000)")
    parser.add_argument("--events", type=int, default=40, help="events the subscribers spread over (default 40)")
    parser.add_argument("--rate", type=float, default=2000.0, help="updates/s in total over all events (default 2000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of publishing per mode (default 20)")
    parser.add_argument("--modes", default="cohort,naive,ws", help="comma-separated: cohort, naive, ws (default all)")
    parser.add_argument("--procs", type=int, default=3, help="subscriber processes, all on core 1 (default 3)")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between ingest POSTs (default 0.01)")
    parser.add_argument(
        "--max-batch-seconds", type=float, default=0.5, help="most updates in one POST, in seconds of --rate"
    )
    parser.add_argument("--drain", type=float, default=2.0, help="seconds to wait after publishing (default 2)")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent: weight 1/rank^s (default 1)")
    parser.add_argument("--client-queue", type=int, default=256, help="ODDSGATE_CLIENT_QUEUE (default 256)")
    parser.add_argument("--slow-client-seconds", type=float, default=10.0, help="ODDSGATE_SLOW_CLIENT_SECONDS")
    parser.add_argument(
        "--max-queue", type=int, default=4096, help="client websockets max_queue, frames (default 4096)"
    )
    parser.add_argument(
        "--connect-concurrency", type=int, default=96, help="handshakes in flight in total (default 96)"
    )
    parser.add_argument("--seed", type=int, default=20260323)
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and clients to cores")
    parser.add_argument("--quick", action="store_true", help="100 subscribers, 5 s per mode: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers = min(args.subscribers, 100)
        args.seconds = min(args.seconds, 5.0)
    args.mode_list = [name.strip() for name in args.modes.split(",") if name.strip()]
    unknown = [name for name in args.mode_list if name not in MODES]
    if unknown:
        parser.error(f"unknown modes {unknown}: use {', '.join(MODES)}")
    if args.procs < 1 or args.subscribers < 1 or args.events < 1 or args.rate <= 0:
        parser.error("--procs, --subscribers, --events and --rate must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"python: {platform.python_implementation()} {sys.version.split()[0]} ({platform.platform()})")
    print(f"cpu: {cpu_model()} ({os.cpu_count()} logical cores)")
    if args.pin:
        if (os.cpu_count() or 1) < 2:
            print("NOTE: fewer than 2 cores: not pinning")
            args.pin = False
        elif (note := pin(CLIENT_CORE)) is not None:
            print(f"NOTE: {note}; not pinning")
            args.pin = False
    if args.pin:
        print(
            f"pinning: server on core {SERVER_CORE}; "
            f"coordinator, publisher and subscriber processes on core {CLIENT_CORE}"
        )
    else:
        print("pinning: none (server and load generator share the cores)")
    loop = new_loop()
    print(
        f"client event loop: {loop.__module__}.{loop.__name__}; websockets max_queue {args.max_queue}, no compression"
    )
    rng = random.Random(args.seed)
    pairs = pairings(rng, args.events)
    events_of = assign(rng, args.subscribers, args.events, args.zipf)
    counts = sorted(Counter(events_of).values(), reverse=True)
    print(
        f"workload: {args.subscribers:,} subscribers over {args.events} NFL events (Zipf s={args.zipf:g}; "
        f"largest {counts[:5]}, {sum(1 for c in counts if c <= 5)} events with <= 5), {args.rate:,.0f} updates/s "
        f"round-robin over the events in POSTs every {args.interval * 1000:g} ms for {args.seconds:g} s, "
        f"drain {args.drain:g} s; server client_queue {args.client_queue}, slow client {args.slow_client_seconds:g} s"
    )
    per_event = args.rate / args.events
    print(
        f"ideal delivery: {per_event:,.1f} deltas/s per event x {args.subscribers:,} subscribers = "
        f"{per_event * args.subscribers:,.0f} messages/s"
    )
    results: list[ModeResult] = []
    for name in args.mode_list:
        mode = MODES[name]
        print()
        print(f"== {mode.name}: {mode.description} ==", flush=True)
        started = time.perf_counter()
        try:
            result = run_mode(mode, args, pairs, events_of)
        except (RuntimeError, OSError, httpx.HTTPError) as exc:
            print(f"[{mode.name}] FAILED: {type(exc).__name__}: {exc}", flush=True)
            continue
        print_mode(result, args, events_of)
        print(f"[{mode.name}] mode took {time.perf_counter() - started:.1f} s", flush=True)
        results.append(result)
    if results:
        print_summary(results)
    print(f"total time: {time.perf_counter() - began:.1f} s")
    return 0 if len(results) == len(args.mode_list) else 1


if __name__ == "__main__":
    sys.exit(main())
