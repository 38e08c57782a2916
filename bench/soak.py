"""Soak and fault run on the real cluster topology: HAProxy in front of a pricer and two serving
gateways, Redis and PostgreSQL (tests/support/cluster.py), under a steady load of prices,
subscribers and bets, with faults injected along the way.

Run from the repository root (`make soak` runs the first):

    .venv/bin/python bench/soak.py               # 10 min, 5,000 updates/s, 2,000 subscribers, 20 bets/s, faults
    .venv/bin/python bench/soak.py --quick       # 1 min, 500 updates/s, 200 subscribers, 5 bets/s: a smoke run
    .venv/bin/python bench/soak.py --rate 500 --subscribers 600   # what 2 vCPUs sustain (the README's figures)
    .venv/bin/python bench/soak.py --minutes 2 --rate 1000 --subscribers 300
    .venv/bin/python bench/soak.py --no-faults   # the steady load only

The full figures need a quiet machine: every process of the cluster (pricer, two readers, HAProxy,
Redis, PostgreSQL) and of the load (subscribers, publisher, bettor) shares the cores, and nothing is
pinned. The busy share of each core is printed with every line, so a saturated machine is visible.

The load
    events       `--events` (40) live NFL events, seeded through HAProxy by both sources.
    publisher    one process, two sources (`vendor_a`, `vendor_b`), each posting half of `--rate`
                 canonical moneyline updates/s to /api/v2/ingest through HAProxy (which routes ingest
                 to the pricer), a batch every 10 ms, round-robin over the events. Both quote one random
                 walk per event, `vendor_b` two cents higher, so every update moves the consensus. A
                 POST waits for the previous one of its source; the updates that fell due meanwhile go
                 in the next batch, up to half a second's worth (the rest is "shed" and counted).
                 When HAProxy itself answers 503 (it has no pricer in service: the pricer is down or
                 its /ready fails on the database or Redis) the batch is posted straight to the
                 pricer, as a feed connector that knows the pricer's address would; these POSTs are
                 counted (`direct`), and `--no-direct-fallback` turns this off. A 503 UNAVAILABLE from
                 the pricer itself means ingest is paused while its audit or Redis backlog is over
                 ODDSGATE_INGEST_BACKLOG_LIMIT; those POSTs are counted as failed, by code.
                 The feed starts as soon as the events are seeded and goes on while the subscribers
                 connect, so no source is ever silent for SOURCE_DOWN_AFTER before the run.
    subscribers  `--subscribers` partner /ws clients through HAProxy, channel `event.<id>`, spread over
                 the events with Zipf-like popularity (bench/fanout.py's draw) and over `--procs`
                 processes (plus one process holding 10 % of them that will stop reading, see faults).
                 Each subscribes with `include_history` (the snapshot's seq is its baseline), tracks
                 its event's seq, and when its connection drops waits 50-500 ms and reconnects through
                 HAProxy with `since: {event: last seq}`, as a real client does. The websockets library
                 reads at most `--max-queue` (16, its default) frames ahead, so a client that cannot
                 keep up shows on the server (conflation, 4008) rather than as a queue in the client.
    bettor       one process placing `--bets-per-second` bets (open loop) with POST /api/v2/bets through
                 HAProxy (so on a serving gateway), as `--punters` funded punters (real JWTs, scope
                 bets:place, age verified; 1,000.00 deposited each with POST /api/v2/wallets/{sub}/deposit),
                 a fresh Idempotency-Key per bet, stakes 1.00-5.00, `accept: "any"`, on a random event's
                 moneyline. A bet with no answer (connection lost, 502/503/504, UNAVAILABLE) is retried
                 with the same key and body, up to 6 attempts; bets still unanswered are replayed once
                 more at the end, so the idempotency key tells whether they were placed.

Every `--report-seconds` (30; 10 below 5 minutes) one line:
    t          seconds since the load started
    upd/s      updates accepted by the pricer per second over the interval (achieved, not the target)
    msg/s      delta messages the subscribers received per second (conflated ones included)
    p50/p99    latency over the interval: receive time minus the delta's `timestamp` (the pricer's
               clock when its book applied the update; same machine), from a histogram 5 % wide
    max        the interval's highest latency (exact)
    gaps       so far: seq jumps that neither a `conflated: true` message nor a resume `reset` explains
    confl      so far: messages marked `conflated: true` (the server folded deltas for a slow client)
    resets     so far: resume snapshots with `reset: true` (the missed deltas were no longer all there)
    reconn     so far: resubscriptions after a lost connection
    bets/s     bets accepted per second; `ref` refused by the server (any code, e.g. MARKET_SUSPENDED),
               `fail` no answer after every attempt (both in the interval)
    RSS        MiB of the pricer, each reader (`-` while it is down) and Redis (its used_memory_rss)
    direct     ingest POSTs in the interval that HAProxy refused (503) and that went straight to the pricer
    bus p99    p99 over the interval of how late deltas are on Redis pub/sub itself, seen by one more
               subscriber of the channel (a probe process): the pricer's share of the latency, before
               any reader; the subscribers' p99 beyond it is the readers', HAProxy's and the clients'
    ws         open /ws connections per reader (its `oddsgate_connections` gauge)
    audit      the pricer's audit backlog (deltas and rows waiting for PostgreSQL; ingest pauses at 20,000)
    cores      busy share of each core over the interval (/proc/stat)
From the moment the 10 % stop reading, the line's msgs/s and latency are those of the others only.

Faults (unless `--no-faults`), spaced over the run; their lengths scale with `--minutes` (each has a
floor so that short runs still show something), and each is logged with its time:
    1 redis     redis-server stopped and started again on the same port (no persistence: it comes
                back empty). Subscribers must resume with 0 gaps (resets allowed, counted).
    2 kill      the reader with the most /ws connections is killed (SIGKILL); its clients reconnect
                through HAProxy to the other and resume; it is started again after ~30 s.
    3 feed      `vendor_b` stops for ~60 s (it is marked down, its quotes age out: flagged
                `stale:vendor_b`), then both stop until every live market has no fresh source
                (suspended, outcomes flagged `stale`, checked over REST through HAProxy and on the
                pricer), then both resume and the time until every market is open again is measured.
                So that this fits in a run, the cluster runs with short freshness settings:
                ODDSGATE_FRESH_SECONDS 5, _STALE_SECONDS 15, _SOURCE_DOWN_AFTER 10 at 10 minutes
                (the defaults 30/120/60 would need minutes of silence; shorter runs use 2/6/4).
    4 stuck     the process holding 10 % of the subscribers is paused with SIGSTOP (its sockets have a
                small receive buffer, like a stalled mobile client); the others' p99 and gaps are
                compared with the window before, the readers' open sockets are watched for the server
                closing the stuck ones (4008 after ODDSGATE_SLOW_CLIENT_SECONDS of conflation, once
                the buffers between them, HAProxy's included, are full: tens of seconds at low rates,
                so this fault lasts at least 40 s), then it is resumed: it reads its backlog, finds the
                connection closed and resumes with `since` like any client. (Behind HAProxy the 4008
                close frame itself seldom reaches a client stalled that long: it queues behind the
                unread data and the server drops the connection after 5 s; the client counts the
                close it saw, a code or "no close frame".)
For each fault a table compares the quiet window before it with each of its phases (e.g. `redis away`,
`redis back`; `stalled`, `read again`): messages/s and latency of the subscribers that keep reading,
gaps, conflated, resets, duplicates, reconnects, updates/s, failed and direct POSTs, bets; then, over
the whole fault, close codes, the time from a lost connection to subscribed again (outage), and the
market suspensions the subscribers saw.

At the end
    RSS         per process, the mean of the last third of the samples after warm-up against the
                first third (a process restarted during the run is judged from its restart, after
                the same warm-up), and the least-squares slope. Flat means growth within
                max(10 MiB, 5 %): a CPython gateway's RSS moves by a few MiB at a steady load (the
                collector's first generation holds up to 50,000 objects, pymalloc keeps arenas that are
                not entirely free, outboxes and socket buffers keep their high-water mark after a
                reconnection storm), while a leak of even one byte per delivered message would be
                ~15 MB a minute at 250,000 messages/s.
    gaps        total over the run (target 0), and the rest of the subscribers' counters
    p99         per interval, and over the whole run; the bus probe's lag over the run
    bets        accepted, refused by code, failed, retried; conservation: every punter's available +
                locked equals the deposits, and the locked total equals the accepted stakes (nothing
                is settled during the run); `oddsgate ledger check` on the cluster's database
    gateways    CPU seconds, each gateway's Redis repair/reset/publish-retry counters, warnings and
                errors in their logs (kept in the work directory printed at the start), and how long
                each took to exit after SIGTERM (a pricer with an audit backlog writes it first)

Nothing asserts: it measures and prints (targets are printed as met or not).
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import platform
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
import orjson
import redis

from bench import cpu_model
from bench.fanout import (
    MAX_CENTS,
    MIN_CENTS,
    assign,
    core_busy,
    core_times,
    iso_now,
    pairings,
    pid_cpu,
    pid_rss_mib,
    update,
)
from bench.soak_clients import (
    BettorConfig,
    BettorStats,
    Histogram,
    ProbeStats,
    PublisherConfig,
    PublisherStats,
    SubscriberConfig,
    SubscriberReport,
    SubscriberStats,
    bettor_main,
    counter_minus,
    probe_main,
    publisher_main,
    subscriber_main,
)
from feeds.publish import DELTAS_CHANNEL
from gateway.settings import Settings
from tests.conftest import mint
from tests.support.cluster import SECRET, Cluster, cluster
from tests.support.servers import GatewayProcess

SOURCES = ("vendor_a", "vendor_b")
DEPOSIT = Decimal("1000.00")
TOKEN_TTL = timedelta(hours=12)
MIB = 1024 * 1024


# --- the plan ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Fault:
    key: str
    title: str
    start: float
    steps: dict[str, float]  # named durations, seconds

    @property
    def length(self) -> float:
        return sum(self.steps.values())


@dataclass(slots=True)
class Plan:
    seconds: float
    warm: float
    fresh: float
    stale: float
    down_after: float
    faults: list[Fault]
    note: str = ""


def make_plan(args: argparse.Namespace) -> Plan:
    """The freshness settings and the fault schedule, scaled to the run's length (10 min = 1)."""
    seconds = args.minutes * 60.0
    s = seconds / 600.0
    fresh, stale, down_after = max(2.0, 5 * s), max(6.0, 15 * s), max(4.0, 10 * s)
    warm = max(8.0, 0.1 * seconds)
    faults: list[Fault] = []
    if args.faults:
        faults = [
            Fault("redis", "Redis restarted", 0, {"down": max(2.0, 5 * s), "observe": max(5.0, 25 * s)}),
            Fault("kill", "a reader killed", 0, {"down": max(5.0, 30 * s), "observe": max(5.0, 20 * s)}),
            Fault(
                "feed",
                "vendor feeds dropped",
                0,
                {
                    "one": max(down_after + 2, 60 * s),
                    "both": stale + max(3.0, 10 * s),
                    "recover": max(5.0, 15 * s),
                },
            ),
            Fault(
                "stuck",
                "10 % of subscribers stop reading",
                0,
                # The server closes them once the buffers on the way (client, HAProxy, server) and the
                # outbox are full and SLOW_CLIENT_SECONDS have passed: tens of seconds at low rates.
                {"stuck": max(15.0 if args.quick else 40.0, 0.2 * seconds), "observe": 5.0},
            ),
        ]
    tail = max(5.0, 0.05 * seconds)
    busy = sum(f.length for f in faults)
    free = seconds - warm - tail - busy
    note = ""
    # Each fault is compared with a quiet window before it: at least a few seconds between them.
    gap = 3.0 if args.quick else 6.0
    if faults and free < gap * len(faults):
        grown = warm + busy + tail + gap * len(faults)
        note = f"the faults need {grown:.0f} s with their observation windows: the run is lengthened to that"
        seconds, free = grown, gap * len(faults)
    cursor = warm
    for fault in faults:
        cursor += free / len(faults)
        fault.start = cursor
        cursor += fault.length
    return Plan(seconds, warm, fresh, stale, down_after, faults, note)


# --- children ------------------------------------------------------------------------------------

REPLY = {"tick": "tick", "peek": "peek", "sources": "sources", "stop": "stopped"}


class Child:
    """A load process and its pipe; the lock keeps one exchange at a time (two threads ask)."""

    def __init__(self, name: str, target: Callable[[Connection, Any], None], config: object, context: Any):
        self.name = name
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=target, args=(child_end, config), daemon=True, name=name)
        self.process.start()
        self.lock = threading.Lock()
        self.paused = False

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def expect(self, kind: str, within: float) -> tuple[Any, ...]:
        if not self.conn.poll(within):
            raise RuntimeError(f"no {kind!r} from {self.name} within {within:g} s")
        message: tuple[Any, ...] = self.conn.recv()
        if message[0] != kind:
            raise RuntimeError(f"expected {kind!r} from {self.name}, got {message[0]!r}")
        return message

    def ask(self, command: str, argument: object = None, within: float = 60.0) -> Any:
        """The child's answer, or None while it is paused."""
        with self.lock:
            if self.paused:
                return None
            self.conn.send((command, argument))
            return self.expect(REPLY[command], within)[1]

    def pause(self) -> None:
        with self.lock:
            os.kill(self.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        with self.lock:
            if self.paused:
                os.kill(self.pid, signal.SIGCONT)
                self.paused = False


# --- what the cluster looks like -----------------------------------------------------------------

METRICS = {
    "ws": re.compile(r'^oddsgate_connections\{protocol="ws"\} ([0-9.e+-]+)$', re.M),
    "repaired": re.compile(r"^oddsgate_hub_repaired ([0-9.e+-]+)$", re.M),
    "resets": re.compile(r"^oddsgate_hub_resets ([0-9.e+-]+)$", re.M),
    "publish_failures": re.compile(r"^oddsgate_broadcast_publish_failures ([0-9.e+-]+)$", re.M),
    "overflows": re.compile(r"^oddsgate_broadcast_overflows ([0-9.e+-]+)$", re.M),
    "audit_backlog": re.compile(r"^oddsgate_audit_backlog ([0-9.e+-]+)$", re.M),
}


def scrape(gateway: GatewayProcess) -> dict[str, float]:
    if gateway.process is None:
        return {}
    try:
        text = httpx.get(f"{gateway.url}/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return {}
    # A labelled gauge has no line until it is first set: a fresh process has no /ws connection yet.
    found: dict[str, float] = {"ws": 0.0}
    for name, pattern in METRICS.items():
        match = pattern.search(text)
        if match:
            found[name] = float(match.group(1))
    return found


def gateway_rss(gateway: GatewayProcess) -> float:
    return pid_rss_mib(gateway.process.pid) if gateway.process is not None else math.nan


def gateway_cpu(gateway: GatewayProcess) -> float:
    return pid_cpu(gateway.process.pid) if gateway.process is not None else math.nan


@dataclass(slots=True)
class Sample:
    t: float
    rss: dict[str, float]
    ws: dict[str, float]
    audit: float  # the pricer's audit backlog (deltas and rows waiting for PostgreSQL)


class Sampler:
    def __init__(self, running: Cluster):
        self.cluster = running
        self.samples: list[Sample] = []
        self.redis = redis.Redis.from_url(running.redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def redis_rss(self) -> float:
        try:
            info = self.redis.info("memory")
        except redis.RedisError:
            return math.nan
        return float(info.get("used_memory_rss", math.nan)) / MIB

    def take(self, t: float) -> Sample:
        rss = {g.name: gateway_rss(g) for g in self.cluster.gateways}
        rss["redis"] = self.redis_rss()
        ws = {r.name: scrape(r).get("ws", math.nan) for r in self.cluster.readers}
        audit = scrape(self.cluster.pricer).get("audit_backlog", math.nan)
        sample = Sample(t, rss, ws, audit)
        self.samples.append(sample)
        return sample


# --- windows -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Point:
    """Cumulative figures at one moment, to take differences between."""

    t: float
    subs: list[SubscriberStats]  # per process of the subscribers that keep reading (all but the stuck group)
    publisher: PublisherStats
    bets: BettorStats


@dataclass(slots=True)
class Window:
    seconds: float
    subs: SubscriberStats
    accepted: int
    failed_posts: int
    post_failures: Counter[str]
    paused: int
    direct: int
    bets_accepted: int
    bets_refused: Counter[str]
    bets_failed: Counter[str]

    @staticmethod
    def between(a: Point, b: Point) -> Window:
        return Window(
            max(1e-9, b.t - a.t),
            total(after.minus(before) for before, after in zip(a.subs, b.subs, strict=True)),
            b.publisher.accepted - a.publisher.accepted,
            b.publisher.failed_posts - a.publisher.failed_posts,
            counter_minus(b.publisher.failures, a.publisher.failures),
            b.publisher.paused - a.publisher.paused,
            b.publisher.direct_posts - a.publisher.direct_posts,
            b.bets.accepted - a.bets.accepted,
            counter_minus(b.bets.refused, a.bets.refused),
            counter_minus(b.bets.failed, a.bets.failed),
        )


def ms(value: float, width: int) -> str:
    """A latency in a column: tenths below a second, whole milliseconds above."""
    return f"{value:>{width}.1f}" if math.isnan(value) or value < 1000 else f"{value:>{width},.0f}"


def total(parts: Iterable[SubscriberStats]) -> SubscriberStats:
    summed = SubscriberStats()
    for part in parts:
        summed.add(part)
    return summed


def codes(counter: Counter[str]) -> str:
    return ", ".join(f"{n} x {k}" for k, n in counter.most_common()) or "none"


def outage_text(outages: Sequence[float]) -> str:
    if not outages:
        return "-"
    ordered = sorted(outages)
    return f"{len(ordered)}: median {ordered[len(ordered) // 2]:.2f} s, max {ordered[-1]:.2f} s"


WINDOW_HEADER = (
    f"{'window':<26}{'msg/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max~ms':>8}{'gaps':>6}{'confl':>7}{'resets':>7}"
    f"{'dups':>6}{'reconn':>7}{'upd/s':>8}{'POSTfail':>9}{'direct':>7}{'bets/s':>7}{'ref':>5}{'fail':>5}"
)


def window_row(label: str, w: Window) -> str:
    h = w.subs.latency
    return (
        f"{label:<26}{w.subs.received / w.seconds:>9,.0f}{h.percentile(0.5):>8.1f}{h.percentile(0.99):>8.1f}"
        f"{h.highest():>8.0f}{w.subs.gaps:>6}{w.subs.conflated:>7}{w.subs.resets:>7}{w.subs.duplicates:>6}"
        f"{w.subs.reconnects:>7}{w.accepted / w.seconds:>8,.0f}{w.failed_posts:>9}{w.direct:>7}"
        f"{w.bets_accepted / w.seconds:>7.1f}"
        f"{sum(w.bets_refused.values()):>5}{sum(w.bets_failed.values()):>5}"
    )


# --- the run -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    t: float
    upd_s: float
    msg_s: float
    p50: float
    p99: float
    max_ms: float
    gaps: int
    conflated: int
    bets_s: float
    refused: int
    failed: int


class Soak:
    def __init__(self, args: argparse.Namespace, plan: Plan, running: Cluster, context: Any):
        self.args = args
        self.plan = plan
        self.cluster = running
        self.context = context
        self.settings = Settings(jwt_secret=SECRET)
        self.read_token = mint(self.settings, "odds:read", sub="soak-reader", ttl=TOKEN_TTL)
        self.print_lock = threading.Lock()
        self.sampler = Sampler(running)
        self.subscribers: list[Child] = []
        self.stuck: Child | None = None
        self.stuck_count = 0
        self.publisher: Child | None = None
        self.bettor: Child | None = None
        self.probe: Child | None = None
        self.probe_before = ProbeStats()
        self.probe_origin = ProbeStats()
        self.origin = 0.0
        self.rows: list[Row] = []
        self.fault_log: list[str] = []
        self.outcomes: list[list[str]] = []
        self.phases: list[tuple[str, Point]] = []
        self.stuck_from: float | None = None  # when the stuck group stopped reading: excluded from lines
        self.started_at: dict[str, float] = {}  # restarts, for judging RSS after them
        self.latest: dict[int, SubscriberStats] = {}
        self.at_origin: dict[int, SubscriberStats] = {}
        self.event_ids: list[str] = []
        self.punters: list[tuple[str, str]] = []
        self.deposited = Decimal(0)
        self.prices: list[tuple[int, int]] = []
        self.cpu_from: dict[str, float] = {}  # each gateway's CPU seconds when the run (or its restart) began
        self.cpu_done: dict[str, float] = {}  # CPU seconds of gateway processes that were killed
        self.published_before = 0  # updates accepted while the subscribers connected, before the run's origin
        self.failed = False

    # -- output --

    def say(self, text: str) -> None:
        with self.print_lock:
            print(text, flush=True)

    def now(self) -> float:
        return time.perf_counter() - self.origin

    def log_fault(self, text: str) -> None:
        line = f"[fault {self.now():6.1f}s] {text}"
        self.fault_log.append(line)
        self.say(line)

    # -- set-up --

    def choose(self) -> list[tuple[str, str]]:
        rng = random.Random(self.args.seed)
        pairs = pairings(rng, self.args.events)
        self.prices = [(rng.randint(MIN_CENTS, MAX_CENTS), rng.randint(MIN_CENTS, MAX_CENTS)) for _ in pairs]
        return pairs

    def seed(self, pairs: list[tuple[str, str]]) -> None:
        feed = mint(self.settings, "odds:ingest", sub="soak-feed", ttl=TOKEN_TTL)
        headers = {"authorization": f"Bearer {feed}", "content-type": "application/json"}
        for n, source in enumerate(SOURCES):
            stamp = iso_now()
            body = {
                "source": source,
                "updates": [
                    update(home, away, (h + 2 * n, a + 2 * n), stamp)
                    for (home, away), (h, a) in zip(pairs, self.prices, strict=True)
                ],
            }
            reply = httpx.post(f"{self.cluster.url}/api/v2/ingest", content=orjson.dumps(body), headers=headers)
            if reply.status_code != 200 or reply.json().get("accepted") != len(pairs):
                raise RuntimeError(f"seeding the events failed: HTTP {reply.status_code} {reply.text[:300]}")
        # Every reader must know every event before the subscribers come.
        deadline = time.monotonic() + 30
        ids: dict[tuple[str, str], str] = {}
        for reader in self.cluster.readers:
            while True:
                found = self.odds(reader.url)
                ids = {(e["home_team"], e["away_team"]): e["id"] for e in found}
                if all(pair in ids for pair in pairs):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{reader.name} knows {len(ids)} of {len(pairs)} events after 30 s")
                time.sleep(0.2)
        self.event_ids = [ids[pair] for pair in pairs]

    def odds(self, base_url: str) -> list[dict[str, Any]]:
        reply = httpx.get(
            f"{base_url}/api/v2/odds",
            params={"limit": 500, "markets": "moneyline"},
            headers={"authorization": f"Bearer {self.read_token}"},
            timeout=10.0,
        )
        reply.raise_for_status()
        data: list[dict[str, Any]] = reply.json()["data"]
        return data

    def fund(self) -> None:
        admin = mint(self.settings, "wallet:admin", sub="soak-cashier", ttl=TOKEN_TTL)
        with httpx.Client(base_url=self.cluster.url, timeout=30.0) as client:
            for n in range(self.args.punters):
                sub = f"soak-punter-{n}"
                token = mint(self.settings, "bets:place", sub=sub, age_verified=True, ttl=TOKEN_TTL)
                reply = client.post(
                    f"/api/v2/wallets/{sub}/deposit",
                    content=orjson.dumps({"amount": str(DEPOSIT), "reference": f"soak-deposit-{sub}"}),
                    headers={"authorization": f"Bearer {admin}", "content-type": "application/json"},
                )
                if reply.status_code != 201:
                    raise RuntimeError(f"deposit for {sub}: HTTP {reply.status_code} {reply.text[:300]}")
                self.deposited += DEPOSIT
                self.punters.append((sub, token))

    def start_publisher(self, pairs: list[tuple[str, str]]) -> None:
        args = self.args
        publisher = PublisherConfig(
            self.cluster.url,
            mint(self.settings, "odds:ingest", sub="soak-feed", ttl=TOKEN_TTL),
            pairs,
            self.prices,
            args.rate,
            SOURCES,
            0.01,
            0.5,
            args.seed + 1,
            self.cluster.pricer.url if args.direct_fallback else None,
        )
        self.publisher = Child("publisher", publisher_main, publisher, self.context)
        self.publisher.expect("ready", 60.0)

    def start_load(self) -> None:
        args = self.args
        rng = random.Random(args.seed + 7)
        events_of = assign(rng, args.subscribers, args.events, args.zipf)
        port = self.cluster.url.rsplit(":", 1)[1]
        ws_url = f"ws://127.0.0.1:{port}/ws"
        groups: list[list[str]] = [[] for _ in range(args.procs)]
        stuck: list[str] = []
        for number, event in enumerate(events_of):
            if args.faults and number % 10 == 9:
                stuck.append(self.event_ids[event])
            else:
                groups[number % args.procs].append(self.event_ids[event])
        token = self.read_token
        concurrency = max(8, args.connect_concurrency // (args.procs + 1))
        for index, events in enumerate(groups):
            config = SubscriberConfig(index, ws_url, token, events, concurrency, None, args.max_queue)
            self.subscribers.append(Child(f"subscribers-{index}", subscriber_main, config, self.context))
        if stuck:
            # A small receive buffer, like a stalled mobile client: the server's side fills sooner.
            config = SubscriberConfig(len(groups), ws_url, token, stuck, concurrency, 8192, args.max_queue)
            self.stuck = Child("subscribers-stuck", subscriber_main, config, self.context)
            self.subscribers.append(self.stuck)
            self.stuck_count = len(stuck)
        bettor = BettorConfig(
            self.cluster.url, self.punters, self.event_ids, args.bets_per_second, args.seed + 2, 256, 6
        )
        self.bettor = Child("bettor", bettor_main, bettor, self.context)
        self.probe = Child("bus-probe", probe_main, (self.cluster.redis.url, DELTAS_CHANNEL), self.context)
        self.probe.expect("ready", 60.0)
        connected = total = 0
        slowest = 0.0
        failures: Counter[str] = Counter()
        for child in self.subscribers:
            _, opened, count, seconds, failed = child.expect("ready", 300.0)
            connected += opened
            total += count
            slowest = max(slowest, seconds)
            failures.update(failed)
        self.bettor.expect("ready", 60.0)
        spread = Counter(events_of)
        self.say(
            f"subscribers: {connected:,} of {total:,} subscribed in {slowest:.1f} s over {len(spread)} events "
            f"(busiest {max(spread.values())}, quietest {min(spread.values())}) in {len(self.subscribers)} processes"
            + (f" ({self.stuck_count} in the group that will stop reading)" if self.stuck else "")
            + (f"; failed attempts: {codes(failures)}" if failures else "")
        )

    # -- figures --

    def point(self) -> Point:
        assert self.publisher is not None
        assert self.bettor is not None
        subs: list[SubscriberStats] = []
        for child in self.subscribers:
            if child is self.stuck:
                continue
            report: SubscriberReport = child.ask("peek")
            subs.append(report.stats)
        return Point(self.now(), subs, self.publisher.ask("peek"), self.bettor.ask("peek"))

    def stuck_point(self) -> SubscriberStats | None:
        if self.stuck is None:
            return None
        report: SubscriberReport | None = self.stuck.ask("peek")
        return None if report is None else report.stats

    def report_window(self, title: str, before: tuple[Point, Point], phases: list[tuple[str, Point]]) -> list[str]:
        """The quiet window before the fault, each phase of it, then what the whole fault window saw."""
        a = Window.between(*before)
        start = before[1]
        lines = [
            f"  {WINDOW_HEADER}",
            "  "
            + (
                window_row(f"before {before[0].t:.0f}-{before[1].t:.0f}s", a)
                if a.seconds >= 2.0
                else "before: no quiet window (the previous fault's observation ran up to this one)"
            ),
        ]
        edge = start
        for label, point in phases:
            lines.append("  " + window_row(f"{label} {edge.t:.0f}-{point.t:.0f}s", Window.between(edge, point)))
            edge = point
        b = Window.between(start, edge)
        lines += [
            f"  {title} {start.t:.0f}-{edge.t:.0f}s: closes {codes(b.subs.closes)}; failed attempts "
            f"{codes(b.subs.failures)}; outages {outage_text(b.subs.outages)}; markets suspended/resumed seen by "
            f"subscribers {b.subs.suspensions}/{b.subs.resumptions}",
            f"  {title}: ingest POST failures {codes(b.post_failures)}; bets refused {codes(b.bets_refused)}; "
            f"bets failed {codes(b.bets_failed)}",
        ]
        return lines

    def phase(self, label: str) -> None:
        """The end of one phase of the fault under way (its table has a row per phase)."""
        self.phases.append((label, self.point()))

    # -- faults --

    def run_faults(self) -> None:
        try:
            previous = self.wait_point(self.plan.warm)
            for fault in self.plan.faults:
                start = self.wait_point(fault.start)
                self.phases = []
                action = getattr(self, f"fault_{fault.key}")
                lines: list[str] = action(fault)
                if not self.phases:
                    self.phase(fault.key)
                end = self.phases[-1][1]
                outcome = [f"fault {fault.key} ({fault.title}) at {start.t:.0f} s:"]
                outcome += self.report_window(fault.key, (previous, start), self.phases)
                outcome += lines
                self.outcomes.append(outcome)
                self.say("\n".join(outcome))
                previous = end
        except Exception as exc:
            self.failed = True
            self.log_fault(f"the fault schedule stopped: {type(exc).__name__}: {exc}")
            if self.stuck is not None:
                self.stuck.resume()

    def wait_point(self, at: float) -> Point:
        delay = at - self.now()
        if delay > 0:
            time.sleep(delay)
        return self.point()

    def metrics(self) -> dict[str, dict[str, float]]:
        return {g.name: scrape(g) for g in self.cluster.gateways}

    def fault_redis(self, fault: Fault) -> list[str]:
        before = self.metrics()
        self.cluster.redis.stop()
        self.log_fault(f"redis-server stopped (port {self.cluster.redis.port})")
        time.sleep(fault.steps["down"] / 2)
        ready = self.readiness()
        self.log_fault(f"while Redis is away: {ready}")
        time.sleep(fault.steps["down"] / 2)
        self.cluster.redis.start()
        self.started_at["redis"] = self.now()
        self.phase("redis away")
        self.log_fault("redis-server started again on the same port (empty: no persistence)")
        time.sleep(fault.steps["observe"])
        self.phase("redis back")
        after = self.metrics()
        lines = [f"  /ready while Redis was away: {ready}"]
        for name in after:
            changes = {
                key: after[name].get(key, 0.0) - before.get(name, {}).get(key, 0.0)
                for key in ("repaired", "resets", "publish_failures", "overflows")
            }
            lines.append(
                f"  {name}: deltas repaired from Redis +{changes['repaired']:.0f}, events reset "
                f"+{changes['resets']:.0f}, publish retries +{changes['publish_failures']:.0f}, broadcast "
                f"overflows +{changes['overflows']:.0f}"
            )
        return lines

    def fault_kill(self, fault: Fault) -> list[str]:
        counts = {r.name: scrape(r).get("ws", 0.0) for r in self.cluster.readers}
        victim = max(self.cluster.readers, key=lambda r: counts.get(r.name, 0.0))
        self.cpu_done[victim.name] = (
            self.cpu_done.get(victim.name, 0.0) + gateway_cpu(victim) - self.cpu_from[victim.name]
        )
        self.cpu_from[victim.name] = 0.0
        victim.kill()
        self.log_fault(f"{victim.name} killed (SIGKILL) with {counts.get(victim.name, 0):.0f} /ws connections")
        time.sleep(fault.steps["down"])
        started = time.perf_counter()
        try:
            victim.start(timeout=120)
            restart = f"started again, /health after {time.perf_counter() - started:.1f} s"
        except AssertionError as exc:
            restart = f"did not start again: {str(exc)[:300]}"
        self.started_at[victim.name] = self.now()
        self.phase(f"{victim.name} down")
        self.log_fault(f"{victim.name} {restart}")
        time.sleep(fault.steps["observe"])
        self.phase(f"{victim.name} back")
        after = {r.name: scrape(r).get("ws", math.nan) for r in self.cluster.readers}
        spread = ", ".join(f"{name} {after[name]:.0f}" for name in after)
        return [
            "  /ws connections per reader before the kill: "
            + ", ".join(f"{k} {v:.0f}" for k, v in counts.items())
            + f"; at the end of the observation: {spread} (existing connections are not rebalanced)"
        ]

    def feed_view(self, base_url: str) -> dict[str, int]:
        events = self.odds(base_url)
        view: Counter[str] = Counter()
        for event in events:
            for market in event.get("markets", []):
                if market.get("id") != "moneyline":
                    continue
                view["markets"] += 1
                view["suspended"] += bool(market.get("suspended"))
                for outcome in market.get("outcomes", []):
                    flags = outcome.get("flags") or []
                    view["outcomes"] += 1
                    view["stale"] += "stale" in flags
                    view["stale:vendor_b"] += "stale:vendor_b" in flags
                    view["one_source"] += outcome.get("source_count") == 1
        return dict(view)

    def sources_up(self, base_url: str) -> str:
        try:
            reply = httpx.get(
                f"{base_url}/api/v2/sources", headers={"authorization": f"Bearer {self.read_token}"}, timeout=10.0
            )
            rows = reply.json()["data"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return f"unreadable ({type(exc).__name__})"
        return "{" + ", ".join(f"{r.get('source')}: {'up' if r.get('up') else 'down'}" for r in rows) + "}"

    def sources_text(self) -> str:
        return f"sources through HAProxy {self.sources_up(self.cluster.url)}, on the pricer " + self.sources_up(
            self.cluster.pricer.url
        )

    def view_text(self, view: dict[str, int]) -> str:
        return (
            f"{view.get('suspended', 0)}/{view.get('markets', 0)} moneylines suspended, "
            f"{view.get('stale', 0)}/{view.get('outcomes', 0)} outcomes flagged stale, "
            f"{view.get('stale:vendor_b', 0)} flagged stale:vendor_b, {view.get('one_source', 0)} with one source"
        )

    def sources(self, live: Sequence[str]) -> None:
        assert self.publisher is not None
        self.publisher.ask("sources", list(live))

    def fault_feed(self, fault: Fault) -> list[str]:
        lines = []
        self.sources(["vendor_a"])
        self.log_fault("vendor_b stopped (vendor_a goes on at half the rate)")
        time.sleep(fault.steps["one"])
        lines.append(
            f"  after {fault.steps['one']:.0f} s without vendor_b: {self.sources_text()}; through HAProxy "
            f"{self.view_text(self.feed_view(self.cluster.url))}"
        )
        self.phase("vendor_b off")
        self.sources([])
        self.log_fault("vendor_a stopped too: no source quotes any event")
        time.sleep(fault.steps["both"])
        readers = self.feed_view(self.cluster.url)
        pricer = self.feed_view(self.cluster.pricer.url)
        lines.append(
            f"  after {fault.steps['both']:.0f} s without any source: {self.sources_text()}; through "
            f"HAProxy {self.view_text(readers)}; on the pricer {self.view_text(pricer)}"
        )
        ready = self.readiness()
        lines.append(f"  /ready with every source silent: {ready}")
        self.log_fault(f"both sources silent: {self.view_text(readers)}; /ready: {ready}")
        assert self.publisher is not None
        refused_before: PublisherStats = self.publisher.ask("peek")
        self.phase("both off")
        self.sources(SOURCES)
        resumed = time.perf_counter()
        self.log_fault("both sources resume")
        recovered: float | None = None
        deadline = resumed + fault.steps["recover"]
        view = readers
        while time.perf_counter() < deadline:
            view = self.feed_view(self.cluster.url)
            if view.get("suspended", 1) == 0 and view.get("stale", 1) == 0:
                recovered = time.perf_counter() - resumed
                break
            time.sleep(0.25)
        if recovered is None:
            lines.append(f"  NOT recovered within {fault.steps['recover']:.0f} s: {self.view_text(view)}")
        else:
            lines.append(f"  recovered {recovered:.2f} s after the sources resumed: {self.view_text(view)}")
            self.log_fault(f"every market open again after {recovered:.2f} s")
            time.sleep(max(0.0, deadline - time.perf_counter()))
        self.phase("both back")
        refused_after: PublisherStats = self.publisher.ask("peek")
        lines.append(
            f"  after the sources resumed HAProxy itself answered 503 to "
            f"{refused_after.balancer_refused - refused_before.balancer_refused} ingest POSTs (no pricer in "
            f"service); {refused_after.direct_posts - refused_before.direct_posts} were sent straight to the pricer "
            + ("(--no-direct-fallback: none)" if not self.args.direct_fallback else "")
        )
        return lines

    def readiness(self) -> str:
        found = []
        for gateway in self.cluster.gateways:
            if gateway.process is None:
                found.append(f"{gateway.name} down")
                continue
            try:
                reply = httpx.get(f"{gateway.url}/ready", timeout=2.0)
                checks = reply.json().get("checks", {})
            except (httpx.HTTPError, ValueError) as exc:
                found.append(f"{gateway.name} {type(exc).__name__}")
                continue
            failing = [name for name, check in checks.items() if not check.get("ok")]
            found.append(
                f"{gateway.name} {reply.status_code}" + (f" ({', '.join(failing)} failing)" if failing else "")
            )
        return ", ".join(found)

    def fault_stuck(self, fault: Fault) -> list[str]:
        if self.stuck is None:
            return ["  no stuck group"]
        before = self.stuck_point()
        open_before = sum(scrape(r).get("ws", 0.0) for r in self.cluster.readers)
        rss_before = {r.name: gateway_rss(r) for r in self.cluster.readers}
        self.stuck.pause()
        self.stuck_from = self.now()
        self.log_fault(f"{self.stuck_count} subscribers stop reading (their process is paused with SIGSTOP)")
        paused_at = time.perf_counter()
        closed_after: float | None = None
        lowest = open_before
        rss_peak = dict(rss_before)
        while time.perf_counter() - paused_at < fault.steps["stuck"]:
            time.sleep(1.0)
            now_open = sum(scrape(r).get("ws", 0.0) for r in self.cluster.readers)
            lowest = min(lowest, now_open)
            for r in self.cluster.readers:
                rss_peak[r.name] = max(rss_peak.get(r.name, 0.0), gateway_rss(r))
            if closed_after is None and open_before - now_open >= 0.9 * self.stuck_count:
                closed_after = time.perf_counter() - paused_at
                self.log_fault(
                    f"the readers closed the stuck sockets: {open_before:.0f} -> {now_open:.0f} open "
                    f"after {closed_after:.0f} s"
                )
        rss_after = {r.name: gateway_rss(r) for r in self.cluster.readers}
        self.phase("stalled")
        self.stuck.resume()
        self.log_fault("the stuck subscribers read again (SIGCONT)")
        time.sleep(fault.steps["observe"])
        self.phase("read again")
        after = self.stuck_point()
        lines = [
            f"  open /ws on the readers: {open_before:.0f} before, lowest {lowest:.0f} while stuck"
            + (
                f"; the stuck ones were closed by the server {closed_after:.0f} s after they stopped reading"
                if closed_after is not None
                else f"; the server had NOT closed {self.stuck_count} stuck sockets after {fault.steps['stuck']:.0f} s"
            ),
            "  reader RSS MiB (before / peak / at the end of the stall): "
            + ", ".join(
                f"{name} {rss_before[name]:.0f} / {rss_peak[name]:.0f} / {rss_after[name]:.0f}" for name in rss_before
            ),
        ]
        if before is not None and after is not None:
            w = after.minus(before)
            lines.append(
                f"  the stuck group after SIGCONT: closes {codes(w.closes)}; reconnects {w.reconnects}; resets "
                f"{w.resets}; gaps {w.gaps}; conflated {w.conflated}; messages {w.received:,} (latency p99 "
                f"{w.latency.percentile(0.99):.0f} ms: its backlog)"
            )
        return lines

    # -- the interval lines --

    def header(self) -> None:
        names = " ".join(r.name.replace("reader-", "r") for r in self.cluster.readers)
        self.say(
            f"{'t s':>6}{'upd/s':>8}{'msg/s':>10}{'p50':>8}{'p99':>8}{'max':>9}{'gaps':>6}{'confl':>7}{'resets':>7}"
            f"{'reconn':>7}{'direct':>7}{'bets/s':>7}{'ref':>5}{'fail':>5}{'bus p99':>9}"
            f"  RSS MiB pricer {names} redis   ws {names}   audit   cores"
        )

    def tick(self, previous: dict[str, Any], final: PublisherStats | None = None) -> dict[str, Any]:
        assert self.publisher is not None
        assert self.bettor is not None
        t = self.now()
        sample = self.sampler.take(t)
        interval = Histogram()
        received = 0
        highest = 0.0
        for index, child in enumerate(self.subscribers):
            report: SubscriberReport | None = child.ask("tick")
            if report is None:
                continue
            before = self.latest.get(index)
            self.latest[index] = report.stats
            if child is self.stuck and self.stuck_from is not None:
                continue
            if before is None:
                before = SubscriberStats()
            interval = interval.merged(report.stats.latency.minus(before.latency))
            received += report.stats.received - before.received
            highest = max(highest, report.interval_max)
        totals = total(stats.minus(self.at_origin[index]) for index, stats in self.latest.items())
        pub: PublisherStats = final if final is not None else self.publisher.ask("tick")
        bus = self.probe_before
        if self.probe is not None:
            bus = self.probe.ask("tick")
        bus_p99 = bus.lag.minus(self.probe_before.lag).percentile(0.99)
        self.probe_before = bus
        bets: BettorStats = self.bettor.ask("tick")
        cores = core_times()
        dt = max(1e-9, t - previous["t"])
        row = Row(
            t,
            (pub.accepted - previous["accepted"]) / dt,
            received / dt,
            interval.percentile(0.5),
            interval.percentile(0.99),
            highest if received else math.nan,
            totals.gaps,
            totals.conflated,
            (bets.accepted - previous["bets"]) / dt,
            sum(bets.refused.values()) - previous["refused"],
            sum(bets.failed.values()) - previous["failed"],
        )
        self.rows.append(row)
        busy = core_busy(previous["cores"], cores)
        rss = " ".join(
            "-" if math.isnan(sample.rss.get(g.name, math.nan)) else f"{sample.rss[g.name]:.0f}"
            for g in self.cluster.gateways
        )
        redis_rss = sample.rss.get("redis", math.nan)
        ws = "/".join("-" if math.isnan(v) else f"{v:.0f}" for v in sample.ws.values())
        self.say(
            f"{t:>6.0f}{row.upd_s:>8,.0f}{row.msg_s:>10,.0f}{ms(row.p50, 8)}{ms(row.p99, 8)}{ms(row.max_ms, 9)}"
            f"{row.gaps:>6}{row.conflated:>7}{totals.resets:>7}{totals.reconnects:>7}"
            f"{pub.direct_posts - previous['direct']:>7}{row.bets_s:>7.1f}"
            f"{row.refused:>5}{row.failed:>5}{ms(bus_p99, 9)}  {rss} "
            f"{'-' if math.isnan(redis_rss) else f'{redis_rss:.0f}'}"
            f"   {ws}   {sample.audit:,.0f}   "
            + "/".join(f"{v:.0%}" for _, v in sorted(busy.items()))
            + ("  (stuck group excluded)" if self.stuck_from is not None else "")
        )
        return {
            "t": t,
            "accepted": pub.accepted,
            "direct": pub.direct_posts,
            "bets": bets.accepted,
            "refused": sum(bets.refused.values()),
            "failed": sum(bets.failed.values()),
            "cores": cores,
        }

    # -- the whole run --

    def run(self) -> None:
        args, plan = self.args, self.plan
        self.fund()
        self.say(f"funded {len(self.punters)} punters with {DEPOSIT} each ({self.deposited} in total)")
        pairs = self.choose()
        self.start_publisher(pairs)
        assert self.publisher is not None
        # The feed goes on from the seed: a source silent for SOURCE_DOWN_AFTER would be marked down.
        self.seed(pairs)
        self.publisher.conn.send(("go", None))
        self.say(
            f"seeded {len(pairs)} live events from both sources (every reader knows them); publishing "
            f"{args.rate:,.0f} updates/s while the subscribers connect"
        )
        self.start_load()
        assert self.bettor is not None
        self.origin = time.perf_counter()
        self.sampler.take(0.0)
        cores_from = core_times()
        self.cpu_from = {g.name: gateway_cpu(g) for g in self.cluster.gateways}
        published: PublisherStats = self.publisher.ask("peek")
        self.published_before = published.accepted
        if self.probe is not None:
            self.probe_before = self.probe_origin = self.probe.ask("peek")
        # What the subscribers saw while connecting is not the run's: the lines and totals start here.
        for index, child in enumerate(self.subscribers):
            baseline: SubscriberReport = child.ask("tick")
            self.latest[index] = self.at_origin[index] = baseline.stats
        self.bettor.conn.send(("go", None))
        self.say(f"load started: {args.rate:,.0f} updates/s, {args.bets_per_second:g} bets/s, for {plan.seconds:.0f} s")
        self.header()
        faults = threading.Thread(target=self.run_faults, name="faults", daemon=True)
        if plan.faults:
            faults.start()
        previous: dict[str, Any] = {
            "t": 0.0,
            "accepted": published.accepted,
            "direct": published.direct_posts,
            "bets": 0,
            "refused": 0,
            "failed": 0,
            "cores": cores_from,
        }
        next_report = args.report_seconds
        next_sample = args.sample_seconds
        while True:
            upcoming = min(next_report, next_sample, plan.seconds)
            delay = upcoming - self.now()
            if delay > 0:
                time.sleep(delay)
            if self.now() >= plan.seconds:
                break
            if self.now() >= next_report:
                previous = self.tick(previous)
                next_report += args.report_seconds
                next_sample += args.sample_seconds
            elif self.now() >= next_sample:
                self.sampler.take(self.now())
                next_sample += args.sample_seconds
        if faults.is_alive():
            self.say("waiting for the fault schedule to finish")
            faults.join(300)
        final_pub: PublisherStats = self.publisher.ask("stop", within=120.0)
        time.sleep(3.0)  # the last deltas reach the subscribers
        previous = self.tick(previous, final_pub)
        busy = core_busy(cores_from, core_times())
        gateway_seconds = {
            g.name: self.cpu_done.get(g.name, 0.0) + gateway_cpu(g) - self.cpu_from[g.name]
            for g in self.cluster.gateways
        }
        final_bets: BettorStats = self.bettor.ask("stop", within=180.0)
        finals: dict[int, SubscriberStats] = {}
        for index, child in enumerate(self.subscribers):
            child.resume()
            report: SubscriberReport = child.ask("stop", within=120.0)
            finals[index] = report.stats
        elapsed = self.now()
        bus: ProbeStats = self.probe.ask("stop") if self.probe is not None else ProbeStats()
        self.summary(final_pub, final_bets, finals, busy, gateway_seconds, elapsed, bus)

    # -- the end --

    def summary(
        self,
        pub: PublisherStats,
        bets: BettorStats,
        finals: dict[int, SubscriberStats],
        busy: dict[str, float],
        gateway_seconds: dict[str, float],
        elapsed: float,
        bus: ProbeStats,
    ) -> None:
        say = self.say
        say("")
        say("== summary ==")
        healthy = SubscriberStats()
        everyone = SubscriberStats()
        for index, stats in finals.items():
            run = stats.minus(self.at_origin.get(index, SubscriberStats()))
            everyone.add(run)
            if self.subscribers[index] is not self.stuck:
                healthy.add(run)
        posts = pub.post_ms
        say(
            f"ingest: {pub.accepted:,} updates accepted of {pub.sent:,} sent, {pub.accepted - self.published_before:,} "
            f"of them in the run ({(pub.accepted - self.published_before) / elapsed:,.0f}/s over {elapsed:.0f} s, "
            f"target {self.args.rate:,.0f}); by source {dict(pub.by_source)}; rejected "
            f"{codes(pub.rejections)}; failed POSTs {codes(pub.failures)}; not sent while a source was stopped "
            f"{pub.paused:,}; shed after slow answers {pub.shed:,}; POSTs HAProxy answered 503 itself (pricer out of "
            f"service) {pub.balancer_refused:,}, of which sent straight to the pricer {pub.direct_posts:,} "
            f"({pub.direct_accepted:,} updates accepted that way); POST p50 {posts.percentile(0.5):.1f} ms, "
            f"p99 {posts.percentile(0.99):.1f} ms"
        )
        lat = healthy.latency
        say(
            f"subscribers that kept reading ({healthy.subscribers:,}): {healthy.received:,} messages; latency p50 "
            f"{lat.percentile(0.5):.1f} ms, p99 {lat.percentile(0.99):.1f} ms, p99.9 {lat.percentile(0.999):.1f} ms, "
            f"max~ {lat.highest():.0f} ms"
        )
        lag = bus.lag.minus(self.probe_origin.lag)
        say(
            f"bus (an independent subscriber of Redis pub/sub, {bus.received - self.probe_origin.received:,} deltas): "
            f"lag from the delta's timestamp p50 {lag.percentile(0.5):.1f} ms, p99 {lag.percentile(0.99):.1f} ms, "
            f"max~ {lag.highest():.0f} ms; what the subscribers see beyond that is the readers' (and clients') share"
        )
        gaps_met = "met" if everyone.gaps == 0 else "NOT met"
        say(
            f"every subscriber ({everyone.subscribers:,}): gaps {everyone.gaps} ({everyone.gap_missing} seqs missing; "
            f"target 0: {gaps_met}); conflated {everyone.conflated:,} (standing for "
            f"{everyone.conflated_skipped:,} more deltas); resets {everyone.resets:,}; duplicates "
            f"{everyone.duplicates:,}; reconnects {everyone.reconnects:,} (outages {outage_text(everyone.outages)}); "
            f"failed attempts "
            f"{codes(everyone.failures)}; closes {codes(everyone.closes)}; errors {codes(everyone.errors)}"
        )
        p99s = [row.p99 for row in self.rows if not math.isnan(row.p99)]
        say("p99 over time (ms): " + " ".join(f"{row.t:.0f}s:{row.p99:.0f}" for row in self.rows))
        if p99s:
            say(
                f"p99 per interval: lowest {min(p99s):.1f} ms, median {sorted(p99s)[len(p99s) // 2]:.1f} ms, "
                f"highest {max(p99s):.1f} ms; p99 < 50 ms in {sum(1 for p in p99s if p < 50)}/{len(p99s)} intervals"
            )
        self.rss_summary()
        say(
            "cores busy over the run: "
            + ", ".join(f"{name} {share:.0%}" for name, share in sorted(busy.items()))
            + "; CPU seconds: "
            + ", ".join(f"{name} {seconds:.0f}" for name, seconds in gateway_seconds.items())
            + f", subscriber processes {everyone.cpu:.0f}, publisher {pub.cpu:.0f}, bettor {bets.cpu:.0f}"
        )
        if busy and min(busy.values()) > 0.9:
            say("NOTE: every core was over 90 % busy: the machine is saturated; latency includes waiting for a core")
        self.bets_summary(bets)
        for name, values in self.metrics().items():
            say(
                f"{name}: deltas repaired from Redis {values.get('repaired', math.nan):.0f}, events reset "
                f"{values.get('resets', math.nan):.0f}, publish retries "
                f"{values.get('publish_failures', math.nan):.0f}, "
                f"broadcast overflows {values.get('overflows', math.nan):.0f}, audit backlog "
                f"{values.get('audit_backlog', math.nan):.0f} (counters since its last start)"
            )
        self.logs_summary()
        if self.outcomes:
            say("")
            say("== faults ==")
            for line in self.fault_log:
                say(line)
            for outcome in self.outcomes:
                say("\n".join(outcome))

    def rss_summary(self) -> None:
        names = [g.name for g in self.cluster.gateways] + ["redis"]
        self.say("RSS (MiB; samples after warm-up, from a restart when there was one):")
        for name in names:
            start = max(self.plan.warm, self.started_at.get(name, -math.inf) + self.plan.warm)
            points = [
                (s.t, s.rss[name])
                for s in self.sampler.samples
                if s.t >= start and not math.isnan(s.rss.get(name, math.nan))
            ]
            if len(points) < 6:
                self.say(f"  {name:<9} too few samples after {start:.0f} s ({len(points)})")
                continue
            third = len(points) // 3
            first = sum(v for _, v in points[:third]) / third
            last = sum(v for _, v in points[-third:]) / third
            growth = last - first
            n = len(points)
            mean_t = sum(t for t, _ in points) / n
            mean_v = sum(v for _, v in points) / n
            var = sum((t - mean_t) ** 2 for t, _ in points)
            slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 60 if var else math.nan
            tolerance = max(10.0, 0.05 * first)
            verdict = "flat" if growth <= tolerance else "GROWING"
            if points[-1][0] - points[0][0] < 180:
                # Each reader's resume history (HISTORY_SIZE deltas per event) and the audit's caches
                # fill during the first minute or so at low rates: a short run cannot tell.
                verdict += " (under 3 minutes of samples: too short to judge)"
            self.say(
                f"  {name:<9} {start:.0f}-{points[-1][0]:.0f} s: first third {first:.1f}, last third {last:.1f}, "
                f"growth {growth:+.1f} ({growth / first:+.1%}), slope {slope:+.2f} MiB/min, "
                f"min {min(v for _, v in points):.1f}, max {max(v for _, v in points):.1f}: {verdict} "
                f"(tolerance {tolerance:.1f})"
            )

    def bets_summary(self, bets: BettorStats) -> None:
        say = self.say
        lat = bets.latency
        say(
            f"bets: {bets.attempted:,} attempted, {bets.accepted:,} accepted "
            f"({bets.accepted / max(1e-9, self.now()):.1f}/s), refused {codes(bets.refused)}, failed "
            f"{codes(bets.failed)} (of those, {bets.resolved_accepted} accepted when the key was replayed at the "
            f"end), retries {bets.retries}, dropped at the client {bets.dropped}; answer "
            f"p50 {lat.percentile(0.5):.0f} ms, p99 {lat.percentile(0.99):.0f} ms"
        )
        available = locked = Decimal(0)
        mismatched: list[str] = []
        with httpx.Client(base_url=self.cluster.url, timeout=30.0) as client:
            for sub, token in self.punters:
                reply = client.get("/api/v2/wallet", headers={"authorization": f"Bearer {token}"})
                body = reply.json()
                data = body.get("data", body)
                a, lk = Decimal(str(data["available"])), Decimal(str(data["locked"]))
                available += a
                locked += lk
                staked = Decimal(bets.staked.get(sub, 0)) / 100
                if a + lk != DEPOSIT or lk != staked:
                    mismatched.append(f"{sub}: available {a} + locked {lk}, staked {staked}")
        staked_total = Decimal(sum(bets.staked.values())) / 100
        conserved = available + locked == self.deposited and locked == staked_total
        say(
            f"conservation: deposited {self.deposited}, punters hold available {available} + locked {locked} = "
            f"{available + locked}; accepted stakes {staked_total}: {'conserved' if conserved else 'NOT conserved'}"
            + (f"; {len(mismatched)} punters differ, e.g. {mismatched[:3]}" if mismatched else "")
        )
        check = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "ledger", "check"],
            cwd=ROOT,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("ODDSGATE_")},
                "ODDSGATE_DATABASE_URL": self.cluster.database_url,
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = (check.stdout + check.stderr).strip().splitlines()
        say(f"oddsgate ledger check (exit {check.returncode}): " + " | ".join(output[-5:]))

    def logs_summary(self) -> None:
        for path in sorted(self.cluster.workdir.glob("*.log")):
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            notable = [line for line in lines if re.search(r"\b(WARNING|ERROR|CRITICAL|Traceback)\b", line)]
            kinds = Counter(re.sub(r"[0-9]+(\.[0-9]+)?", "N", line)[:140] for line in notable)
            self.say(f"log {path.name}: {len(lines)} lines, {len(notable)} warnings/errors")
            for text, count in kinds.most_common(6):
                self.say(f"    {count:>5} x {text}")


def stop_gateways(running: Cluster, within: float = 180.0) -> str:
    """SIGTERM to every gateway at once, then the time each takes to exit (a pricer with a long audit
    backlog writes it first); killed after `within`. The cluster's own stop then has nothing left to do."""
    began = time.perf_counter()
    for gateway in running.gateways:
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.process.terminate()
    notes = []
    for gateway in running.gateways:
        process = gateway.process
        if process is None:
            continue
        try:
            code = process.wait(max(0.1, within - (time.perf_counter() - began)))
            notes.append(f"{gateway.name} exited {time.perf_counter() - began:.1f} s after SIGTERM (code {code})")
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            notes.append(f"{gateway.name} had not exited {within:.0f} s after SIGTERM: killed")
        gateway.process = None
    return "; ".join(notes)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load (default 10)")
    parser.add_argument("--rate", type=float, default=5000.0, help="updates/s over both sources (default 5000)")
    parser.add_argument("--subscribers", type=int, default=2000, help="partner /ws subscribers (default 2000)")
    parser.add_argument("--bets-per-second", type=float, default=20.0, help="bets placed per second (default 20)")
    parser.add_argument("--no-faults", dest="faults", action="store_false", help="the steady load only")
    parser.add_argument("--quick", action="store_true", help="1 minute, 500 updates/s, 200 subscribers, 5 bets/s")
    parser.add_argument("--events", type=int, default=40, help="live events (default 40)")
    parser.add_argument("--procs", type=int, default=4, help="subscriber processes besides the stuck group (default 4)")
    parser.add_argument("--punters", type=int, default=200, help="funded punters (default 200)")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent over the events (default 1)")
    parser.add_argument("--report-seconds", type=float, default=0.0, help="seconds per line (30; 10 below 5 min)")
    parser.add_argument("--sample-seconds", type=float, default=0.0, help="seconds per RSS sample (5; 2 below 5 min)")
    parser.add_argument("--connect-concurrency", type=int, default=128, help="handshakes in flight in total")
    parser.add_argument(
        "--max-queue", type=int, default=16, help="frames a client's websockets library reads ahead (default 16)"
    )
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--no-direct-fallback",
        dest="direct_fallback",
        action="store_false",
        help="never post ingest straight to the pricer when HAProxy has it out of service",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.rate, args.subscribers, args.bets_per_second, args.procs = 1.0, 500.0, 200, 5.0, 2
    if args.minutes <= 0 or args.rate <= 0 or args.subscribers < 1 or args.bets_per_second <= 0 or args.procs < 1:
        parser.error("--minutes, --rate, --subscribers, --bets-per-second and --procs must be positive")
    if not args.report_seconds:
        args.report_seconds = 30.0 if args.minutes >= 5 else 10.0
    if not args.sample_seconds:
        args.sample_seconds = 5.0 if args.minutes >= 5 else 2.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"python: {platform.python_implementation()} {sys.version.split()[0]} ({platform.platform()})")
    print(f"cpu: {cpu_model()} ({os.cpu_count()} logical cores; nothing pinned)")
    per_event = args.rate / args.events
    print(
        f"workload: {args.rate:,.0f} updates/s from {len(SOURCES)} sources over {args.events} live events "
        f"({per_event:,.1f} deltas/s each), {args.subscribers:,} /ws subscribers (ideal delivery "
        f"{per_event * args.subscribers:,.0f} messages/s), {args.bets_per_second:g} bets/s from {args.punters} "
        f"punters, {plan.seconds:.0f} s"
    )
    env = {
        "ODDSGATE_DEFAULT_RATE_LIMIT": "100000000/minute",
        "ODDSGATE_WS_MESSAGE_RATE": "100000/second",
        "ODDSGATE_FRESH_SECONDS": f"{plan.fresh:g}",
        "ODDSGATE_STALE_SECONDS": f"{plan.stale:g}",
        "ODDSGATE_SOURCE_DOWN_AFTER": f"{plan.down_after:g}",
    }
    print("cluster settings: " + " ".join(f"{k}={v}" for k, v in env.items()))
    if plan.faults:
        print(
            "faults: "
            + "; ".join(
                f"{f.key} at {f.start:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in f.steps.items()) + ")"
                for f in plan.faults
            )
            + f"; warm-up {plan.warm:.0f} s"
        )
        if plan.note:
            print(f"NOTE: {plan.note}")
    else:
        print("faults: none (--no-faults)")
    workdir = Path(tempfile.mkdtemp(prefix="oddsgate-soak-"))
    print(f"work directory (gateway and HAProxy logs): {workdir}", flush=True)
    context = multiprocessing.get_context("spawn")
    began = time.perf_counter()
    soak: Soak | None = None
    try:
        with cluster(2, demo=False, workdir=workdir, **env) as running:
            print(
                f"cluster: {running.url} (HAProxy) -> pricer {running.pricer.url}, readers "
                + ", ".join(f"{r.name} {r.url}" for r in running.readers)
                + f"; redis {running.redis.url}; postgres {running.database_url}",
                flush=True,
            )
            soak = Soak(args, plan, running, context)
            try:
                soak.run()
            finally:
                others = [c for c in (soak.publisher, soak.bettor, soak.probe) if c is not None]
                for child in soak.subscribers + others:
                    with contextlib.suppress(OSError):
                        child.resume()
                    child.process.join(5)
                    if child.process.is_alive():
                        child.process.terminate()
                        child.process.join(5)
                print("shutdown: " + stop_gateways(running), flush=True)
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        traceback.print_exc()
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
        return 1
    print(f"total time: {time.perf_counter() - began:.0f} s")
    return 1 if soak is None or soak.failed else 0


if __name__ == "__main__":
    sys.exit(main())
