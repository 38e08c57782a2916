"""Peer benchmark: oddsgate's subscriptions side by side with a Node reference and a raw ASGI ceiling.

Run from the repository root:

    make bench-peers                                   # the full run: ~6-7 min on a quiet machine
    .venv/bin/python bench/peers/run.py                # the same
    .venv/bin/python bench/peers/run.py --quick        # 200 connections, two rates, 3 s each: ~1 minute
    .venv/bin/python bench/peers/run.py --servers graphql,node --connections 1000 --rates 1000,2000,4000

The same workload runs against four servers, each started fresh per connection count, alone on
core 0 (`--no-pin` to let it float):

    graphql   `oddsgate serve --no-demo`, GraphQL `oddsUpdated(eventIds: [id])` over graphql-transport-ws,
              cohorts on (ODDSGATE_GRAPHQL_COHORTS=true): one execution per delta and event
    ws        the same server, partner `/ws`, channel `event.<id>`
    node      bench/peers/node/server.mjs: graphql-ws 6 on ws 8, graphql-js 16, graphql-subscriptions 3's
              in-memory PubSub (one async iterator per subscription, one execution per subscriber and
              delta); `taskset -c 0 node server.mjs --port N`. `npm ci` runs first when
              bench/peers/node/node_modules is missing (package-lock.json pins every version)
    raw       bench/peers/raw_asgi.py: a bare ASGI callable under uvicorn with oddsgate's uvicorn
              options; `/ws?event=<id>`; one task sends each published delta's bytes to the event's
              sockets in turn. No GraphQL, no protocol, no per-client queue: the ceiling of fan-out
              from one Python process (without a per-client queue, a client whose socket is full
              stalls that one sender, so on a busy client core it stops short of 100 % of its own)

The workload (bench/fanout.py's, whose machinery this reuses): 40 NFL events; `--connections`
subscribers (default 1,000 then 5,000), each subscribed to one event, spread with Zipf-like
popularity (weight 1/rank, seeded) over `--procs` subscriber processes on core 1. One publisher
process, also on core 1, posts batches every 10 ms, round-robin over the events, at each rate of
`--rates` (updates/s, default 500, 1000, 2000, 4000, 8000) for `--seconds` (10) per step, on the same
server and the same connections, stepping up until the server saturates. For oddsgate the batches go
to `/api/v2/ingest` exactly as in bench/fanout.py: the book turns each update into a delta with the
event's next `seq` and a server `timestamp`. For the peers they go to the peer's `POST /publish` as
a JSON array of deltas of ~400 bytes (`event_id`, `seq` per event, `sent_at` = the publisher's clock,
the market, both outcomes with their odds in three forms), published as they are.

Every subscriber checks every message: a `seq` jump that no `conflated: true` explains is a gap;
latency is its receive time minus the message's timestamp (oddsgate: the delta's `timestamp`, taken
when the book applied the update; the peers: `sent_at`, taken before the POST, so the peers' latency
also includes the POST's trip: a little against them). The subscribers use a WebSocket client of
their own (bench/peers/client.py), several times cheaper per message than the `websockets` client,
so one core of clients can outrun the servers; when it cannot, see "client" below.

A server is saturated at a step, and no higher rate is tried, when any of these holds:
the publisher achieved less than 90 % of the rate; the subscribers got less than 99 % of the
deltas (conflated or dropped ones); delivered/s is under 90 % of what the achieved rate implies
(deliveries lag, the drain ran on); p99 latency is over `--p99-limit` (1,000 ms); delivered/s rose by
less than 10 % over the previous step; or the server closed connections.

The figures, per server, connection count and rate step:

    pub/s        updates the server accepted (oddsgate) or published (peers) per second of publishing
    deliv/s      messages received / (last message received - first POST)
    us/msg       server CPU seconds (utime+stime, /proc) from arming to the end of the drain, per
                 delivered message: everything the server did, ingest included, per message out
    p50/p99/max  latency as above, in ms
    gaps         seq jumps no conflated message explains (counted per subscriber)
    RSS          the server's VmRSS at the end of the step; KB/conn = (that - RSS with no
                 connection) / connections
    idle KB/conn (RSS with every subscriber connected and subscribed but nothing published - RSS
                 before any connected) / connections, once per server and connection count
    gen CPU      CPU seconds of the subscriber processes and the publisher over the step
    core0/core1  busy share of each core over the step (/proc/stat). The server has core 0 to
                 itself: near 100 % is saturation. Core 1 carries all the load generator: when it
                 is over 90 % the step is marked `client`, and that step's delivered/s is a floor set
                 by the client, not the server's ceiling
    srv%         the server's own CPU as a share of one core over the step
    msg B        mean size of a delta message as received (GraphQL envelope included)
    sat          why this step counts as saturated (publish<90%, undelivered/conflated, lag,
                 p99>limit, flat, closed), plus `client` (core 1 over 90 % busy) and `shared` (see below)

The machine may be shared with other work (another benchmark, a test run). Before each server the
benchmark waits (up to `--quiet-wait`, 300 s) until no core is more than 10 % busy, and a step during
which either core was busier than the server (core 0) or the load generator (core 1) account for by
over 15 points is marked `shared`, reported with a warning and run again (up to `--retries`, 2).

Then, per connection count, each server's best step (its delivered/s is "at saturation"; its CPU
per message and the server's share of its core are taken at that step: a best step below 90 % of
the core was held back by the publisher's round trips, so that server's true ceiling is higher), the
CPU per message of GraphQL and Node at the highest rate both ran unsaturated, and the targets
printed as met or not: GraphQL subscriptions at
least 2x the Node peer in delivered msgs/s and in CPU per message, `/ws` at least 0.5x the raw
ceiling in delivered msgs/s, 0 gaps, at most 30 KB per idle connection. Nothing asserts: it
measures and prints.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
import orjson
import uvicorn

from bench import cpu_model
from bench.fanout import (
    BEARER,
    CLIENT_CORE,
    MAX_CENTS,
    MIN_CENTS,
    MODES,
    SERVER_CORE,
    SOURCE,
    Mode,
    ModeResult,
    PublisherConfig,
    Server,
    assign,
    collect,
    core_busy,
    core_times,
    exit_text,
    expect,
    free_port,
    iso_now,
    new_loop,
    pairings,
    pid_cpu,
    pid_rss_mib,
    pin,
    pin_server,
    publisher_main,
    seqs,
    update,
)
from bench.peers.client import (
    GRAPHQL,
    RAW,
    WS,
    ClientConfig,
    PeerPublisherConfig,
    PeerPublisherResult,
    PeerWorkerResult,
    peer_event_id,
    peer_publisher_main,
    subscriber_main,
)

PEERS = Path(__file__).resolve().parent
NODE_DIR = PEERS / "node"
RAW_SCRIPT = PEERS / "raw_asgi.py"
CLIENT_BUSY = 0.9  # core 1 busier than this: the step's figures are the client's floor
IDLE_KB_TARGET = 30.0
OTHER_BUSY = 0.15  # core 0 busier than the server by this much: something else ran on it
QUIET_BUSY = 0.10  # the machine counts as quiet when no core is busier than this without us


@dataclass(slots=True, frozen=True)
class Target:
    name: str
    description: str
    dialect: str
    mode: Mode  # bench/fanout.py's, so its Server and ModeResult serve here too

    @property
    def oddsgate(self) -> bool:
        return self.name in ("graphql", "ws")


TARGETS = {
    "graphql": Target("graphql", "oddsgate GraphQL subscriptions, cohorts on", GRAPHQL, MODES["cohort"]),
    "ws": Target("ws", "oddsgate partner /ws, channel event.<id>", WS, MODES["ws"]),
    "node": Target(
        "node",
        "Node: graphql-ws + ws + graphql-js, graphql-subscriptions PubSub",
        GRAPHQL,
        Mode("node", "/graphql", False, "Node reference"),
    ),
    "raw": Target(
        "raw", "raw ASGI broadcast under uvicorn (the ceiling)", RAW, Mode("raw", "/ws", False, "raw ASGI ceiling")
    ),
}


# --- the peers' processes ------------------------------------------------------------------------


class PeerServer(Server):
    """A peer started like bench/fanout.py's Server (same health check, stop and log handling)."""

    def __init__(self, target: Target, workdir: Path, args: argparse.Namespace):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        preexec = None
        if target.name == "node":
            command = ["node", "server.mjs", "--port", str(self.port)]
            if args.pin:
                command = ["taskset", "-c", str(SERVER_CORE), *command]
            cwd = NODE_DIR
        else:
            command = [sys.executable, str(RAW_SCRIPT), "--port", str(self.port)]
            preexec = pin_server if args.pin else None
            cwd = workdir
        self.command = command
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
        self.pid = self.process.pid


def node_versions() -> str:
    found = []
    for name in ("graphql", "graphql-ws", "ws", "graphql-subscriptions"):
        try:
            meta = json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text(encoding="utf-8"))
            found.append(f"{name} {meta['version']}")
        except (OSError, ValueError, KeyError):
            found.append(f"{name} ?")
    return ", ".join(found)


def ensure_node() -> str | None:
    """Install the Node peer's packages if missing; the reason it cannot run, or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node or npm not found"
    if (NODE_DIR / "node_modules").is_dir():
        return None
    print(f"node: running npm ci in {NODE_DIR.relative_to(ROOT)}", flush=True)
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return f"npm ci failed ({done.returncode}): {(done.stderr or done.stdout)[-500:]}"
    return None


# --- results -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    rate: float
    result: ModeResult
    payload_bytes: int = 0  # of the delta messages received
    delta_bytes: float = math.nan  # mean size of a delta the peers' publisher posted
    saturated: list[str] = field(default_factory=list)

    @property
    def cpu_per_message(self) -> float:
        """Server CPU microseconds per delivered message."""
        received = self.result.deliveries.received
        return self.result.server_cpu / received * 1e6 if received else math.nan

    @property
    def ideal_rate(self) -> float:
        pub = self.result.publisher
        return self.result.expected / pub.seconds if pub.seconds else 0.0

    @property
    def server_share(self) -> float:
        """The server's CPU as a share of one core over the step (core 0's busy share counts others too)."""
        return self.result.server_cpu / self.result.window if self.result.window else math.nan

    @property
    def shared(self) -> bool:
        """Whether other programs took a noticeable share of either core during the step."""
        generator = self.result.generator_cpu / self.result.window if self.result.window else 0.0
        return self.server_busy - self.server_share > OTHER_BUSY or self.client_busy - generator > OTHER_BUSY

    @property
    def client_busy(self) -> float:
        return self.result.busy.get(f"cpu{CLIENT_CORE}", 0.0)

    @property
    def server_busy(self) -> float:
        return self.result.busy.get(f"cpu{SERVER_CORE}", 0.0)

    @property
    def message_bytes(self) -> float:
        received = self.result.deliveries.received
        return self.payload_bytes / received if received else math.nan


@dataclass(slots=True)
class Run:
    """One server at one connection count: its rate steps."""

    target: Target
    connections: int
    connected: int = 0
    failed: int = 0
    connect_seconds: float = 0.0
    connect_errors: list[str] = field(default_factory=list)
    rss_empty: float = math.nan
    rss_idle: float = math.nan
    steps: list[Step] = field(default_factory=list)
    server_exit: int | None = None
    log: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def idle_kb(self) -> float:
        return (self.rss_idle - self.rss_empty) * 1024 / self.connected if self.connected else math.nan

    def loaded_kb(self, step: Step) -> float:
        return (step.result.server_rss - self.rss_empty) * 1024 / self.connected if self.connected else math.nan

    @property
    def peak(self) -> Step | None:
        return max(self.steps, key=lambda s: s.result.delivered_rate, default=None)

    @property
    def saturated(self) -> bool:
        return any(step.saturated for step in self.steps)

    @property
    def gaps(self) -> int:
        return sum(step.result.deliveries.gaps for step in self.steps)


def saturation(step: Step, previous: Step | None, args: argparse.Namespace) -> list[str]:
    r = step.result
    seen = r.deliveries
    reasons = []
    if r.ingest_rate < 0.9 * step.rate:
        reasons.append("publish<90%")
    if r.expected and seen.received - seen.conflated < 0.99 * r.expected:
        reasons.append("undelivered/conflated")
    if step.ideal_rate and r.delivered_rate < 0.9 * step.ideal_rate:
        reasons.append("lag")
    if r.p99 > args.p99_limit:
        reasons.append(f"p99>{args.p99_limit:g}ms")
    if previous is not None and r.delivered_rate < 1.1 * previous.result.delivered_rate:
        reasons.append("flat")
    if seen.closes:
        reasons.append("closed")
    return reasons


# --- one server at one connection count ----------------------------------------------------------


def wait_quiet(patience: float) -> dict[str, float]:
    """Wait (up to `patience` seconds) until no core is busy with other work; the last busy shares.

    The machine may be shared: another benchmark on either core would be measured as ours."""
    deadline = time.perf_counter() + patience
    told = False
    while True:
        before = core_times()
        time.sleep(1.0)
        busy = core_busy(before, core_times())
        if max(busy.values(), default=0.0) <= QUIET_BUSY or time.perf_counter() >= deadline:
            return busy
        if not told:
            shares = ", ".join(f"{name} {share:.0%}" for name, share in sorted(busy.items()))
            print(f"waiting up to {patience:g} s for a quiet machine (busy before we start: {shares})", flush=True)
            told = True


def start_server(target: Target, workdir: Path, args: argparse.Namespace) -> Server:
    if target.oddsgate:
        return Server(target.mode, workdir, args)
    return PeerServer(target, workdir, args)


def seed_oddsgate(client: httpx.Client, pairs: list[tuple[str, str]], prices: list[tuple[int, int]]) -> list[str]:
    stamp = iso_now()
    seed = [update(home, away, cents, stamp) for (home, away), cents in zip(pairs, prices, strict=True)]
    reply = client.post("/api/v2/ingest", content=orjson.dumps({"source": SOURCE, "updates": seed}))
    if reply.json().get("accepted") != len(pairs):
        raise RuntimeError(f"seeding the events failed: HTTP {reply.status_code} {reply.text[:500]}")
    found = seqs(client)
    return [found[pair][0] for pair in pairs]


def run_server(target: Target, connections: int, args: argparse.Namespace, pairs: list[tuple[str, str]]) -> Run:
    run = Run(target, connections)
    tag = f"[{target.name} {connections:,}]"
    rng = random.Random(args.seed)
    prices = [(rng.randint(MIN_CENTS, MAX_CENTS), rng.randint(MIN_CENTS, MAX_CENTS)) for _ in pairs]
    events_of = assign(random.Random(args.seed + connections), connections, len(pairs), args.zipf)
    context = multiprocessing.get_context("spawn")
    workers: list[multiprocessing.process.BaseProcess] = []
    pipes: list[Connection] = []
    with tempfile.TemporaryDirectory(prefix="oddsgate-peers-") as tmp:
        server = start_server(target, Path(tmp), args)
        client = httpx.Client(base_url=server.base_url, timeout=30.0, headers={"authorization": BEARER})
        try:
            took = server.wait_healthy()
            print(f"{tag} server pid {server.pid} on cores {server.affinity()} healthy after {took:.1f} s", flush=True)
            if target.oddsgate:
                event_ids = seed_oddsgate(client, pairs, prices)
                peer_seqs: list[int] = []
            else:
                event_ids = [peer_event_id(home, away) for home, away in pairs]
                peer_seqs = [0] * len(pairs)
            time.sleep(1.0)
            run.rss_empty = pid_rss_mib(server.pid)

            # Subscribers round-robin over the processes, so each has popular and quiet events.
            per_worker: list[list[str]] = [[] for _ in range(args.procs)]
            for number, event in enumerate(events_of):
                per_worker[number % args.procs].append(event_ids[event])
            concurrency = max(1, args.connect_concurrency // args.procs)
            for index, subs in enumerate(per_worker):
                parent, child = context.Pipe()
                config = ClientConfig(
                    index, "127.0.0.1", server.port, target.mode.path, target.dialect, subs, concurrency
                )
                process = context.Process(target=subscriber_main, args=(child, config), daemon=True)
                process.start()
                child.close()  # so that a child that dies shows up as EOF, not as a long silence
                workers.append(process)
                pipes.append(parent)
            for pipe in pipes:
                _, connected, failed, seconds, errors = expect(pipe, "ready", 600.0)
                run.connected += connected
                run.failed += failed
                run.connect_seconds = max(run.connect_seconds, seconds)
                run.connect_errors.extend(errors)
            time.sleep(args.settle)
            run.rss_idle = pid_rss_mib(server.pid)
            print(
                f"{tag} {run.connected:,} subscribers connected ({run.failed} failed) in {run.connect_seconds:.1f} s; "
                f"RSS {run.rss_empty:.1f} MiB before, {run.rss_idle:.1f} MiB idle = {run.idle_kb:.1f} KB per idle "
                "connection",
                flush=True,
            )
            for error in run.connect_errors[:5]:
                print(f"{tag} CONNECT ERROR: {error}", flush=True)
            if not run.connected:
                raise RuntimeError("no subscriber connected")

            for number, rate in enumerate(args.rate_list):
                attempt = 0
                while True:
                    seed = args.seed + 1 + number + 100 * attempt
                    if target.oddsgate:
                        baseline = dict(seqs(client).values())
                        publisher_config: PublisherConfig | PeerPublisherConfig = PublisherConfig(
                            server.base_url,
                            pairs,
                            prices,
                            rate,
                            args.seconds,
                            args.interval,
                            args.max_batch_seconds,
                            seed,
                        )
                        main: Any = publisher_main
                    else:
                        baseline = dict(zip(event_ids, peer_seqs, strict=True))
                        publisher_config = PeerPublisherConfig(
                            server.base_url,
                            event_ids,
                            pairs,
                            prices,
                            peer_seqs,
                            rate,
                            args.seconds,
                            args.interval,
                            args.max_batch_seconds,
                            seed,
                        )
                        main = peer_publisher_main
                    step, published = run_step(
                        target, run, rate, server, pipes, context, main, publisher_config, baseline, args
                    )
                    if published is None:
                        final = dict(seqs(client).values())
                    else:
                        # The next step goes on from this one's seqs and prices, as oddsgate's book does.
                        peer_seqs, prices = published.seqs, published.prices
                        final = dict(zip(event_ids, peer_seqs, strict=True))
                        if published.publisher.sent:
                            step.delta_bytes = published.payload_bytes / published.publisher.sent
                    results: list[PeerWorkerResult] = []
                    for pipe in pipes:
                        pipe.send(("collect", None))
                    for pipe in pipes:
                        results.append(expect(pipe, "result", 120.0)[1])
                    collect(step.result, list(results), baseline, final)
                    step.result.connected = sum(r.connected for r in results)
                    step.payload_bytes = sum(r.payload_bytes for r in results)
                    step.saturated = saturation(step, run.steps[-1] if run.steps else None, args)
                    print_step(run, step, tag)
                    if not step.shared or attempt >= args.retries:
                        break
                    # Another program took CPU from the server or the client: measure this rate again.
                    attempt += 1
                    print(f"{tag}   other load during the step: again once the machine is quiet", flush=True)
                    wait_quiet(args.quiet_wait)
                run.steps.append(step)
                if step.saturated:
                    break
                time.sleep(0.5)
            for pipe in pipes:
                pipe.send(("stop", None))
            for pipe in pipes:
                with contextlib.suppress(RuntimeError, EOFError, OSError):
                    expect(pipe, "stopped", 30.0)
        except (RuntimeError, OSError, EOFError, httpx.HTTPError) as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            print(f"{tag} FAILED: {run.error}", flush=True)
        finally:
            client.close()
            for worker in workers:
                worker.join(5)
                if worker.is_alive():
                    worker.terminate()
                    worker.join(5)
            run.server_exit = server.stop()
            run.log = server.log_lines()
    return run


def run_step(
    target: Target,
    run: Run,
    rate: float,
    server: Server,
    pipes: list[Connection],
    context: Any,
    main: Any,
    config: PublisherConfig | PeerPublisherConfig,
    baseline: dict[str, int],
    args: argparse.Namespace,
) -> tuple[Step, PeerPublisherResult | None]:
    """One rate on the connected subscribers; the peers' publisher's result too (seqs and prices)."""
    result = ModeResult(target.mode, subscribers=run.connections)
    result.server_affinity = server.affinity()
    publisher_pipe, child = context.Pipe()
    publisher = context.Process(target=main, args=(child, config), daemon=True)
    publisher.start()
    child.close()
    try:
        expect(publisher_pipe, "ready", 60.0)
        for pipe in pipes:
            pipe.send(("arm", baseline))
        for pipe in pipes:
            expect(pipe, "armed", 30.0)
        cpu_before = pid_cpu(server.pid)
        cores_before = core_times()
        window_from = time.perf_counter()
        publisher_pipe.send(("go", None))
        _, published = expect(publisher_pipe, "result", args.seconds + 120.0)
        peer = published if isinstance(published, PeerPublisherResult) else None
        result.publisher = published.publisher if peer is not None else published
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
            if waited >= args.drain and (now - last_rx > 0.5 or waited >= args.drain + args.drain_extra):
                break
        result.drain_seconds = time.perf_counter() - drain_from
        result.window = time.perf_counter() - window_from
        result.server_cpu = pid_cpu(server.pid) - cpu_before
        result.busy = core_busy(cores_before, core_times())
        result.server_rss = pid_rss_mib(server.pid)
    finally:
        publisher.join(10)
        if publisher.is_alive():
            publisher.terminate()
            publisher.join(5)
    return Step(rate, result), peer


# --- output --------------------------------------------------------------------------------------


def print_step(run: Run, step: Step, tag: str) -> None:
    r, seen, pub = step.result, step.result.deliveries, step.result.publisher
    print(
        f"{tag} {step.rate:,.0f}/s: published {r.ingest_rate:,.0f}/s (largest batch {pub.max_batch}); "
        f"delivered {r.delivered_rate:,.0f} msg/s of {step.ideal_rate:,.0f} ideal ({seen.received:,} of "
        f"{r.expected:,}); server {r.server_cpu:.1f} s CPU = {step.cpu_per_message:.1f} us/msg; latency p50 "
        f"{r.p50:.1f} p99 {r.p99:.1f} max {r.max_latency:.1f} ms; gaps {seen.gaps}, conflated {seen.conflated}, "
        f"errors {seen.errors}; RSS {r.server_rss:.1f} MiB; generator {r.generator_cpu:.1f} s CPU; cores "
        + ", ".join(f"{name} {share:.0%}" for name, share in sorted(r.busy.items()))
        + (f"; deltas posted {step.delta_bytes:.0f} B on average" if not math.isnan(step.delta_bytes) else "")
        + (f"; SATURATED: {', '.join(step.saturated)}" if step.saturated else ""),
        flush=True,
    )
    if pub.failed_posts:
        print(f"{tag}   FAILED POSTS: {pub.failed_posts}, first: {pub.first_error}", flush=True)
    if pub.rejected:
        print(f"{tag}   REJECTED: {pub.rejected}, first: {pub.first_rejection}", flush=True)
    if seen.closes:
        closes = ", ".join(f"{n} x {reason}" for reason, n in seen.closes.most_common())
        print(f"{tag}   connections closed by the server: {closes}", flush=True)
    if step.shared:
        print(
            f"{tag}   WARNING: other programs shared the cores (core {SERVER_CORE} {step.server_busy:.0%} busy, the "
            f"server {step.server_share:.0%}; core {CLIENT_CORE} {step.client_busy:.0%} busy, the load generator "
            f"{step.result.generator_cpu / step.result.window:.0%}): figures unreliable",
            flush=True,
        )
    if step.client_busy > CLIENT_BUSY:
        print(
            f"{tag}   NOTE: core {CLIENT_CORE} (the load generator) was {step.client_busy:.0%} busy: "
            "delivered/s and latency are a floor set by the client",
            flush=True,
        )


def fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def print_table(runs: list[Run]) -> None:
    header = (
        f"{'server':<8}{'conns':>6}{'rate':>6}{'pub/s':>7}{'deliv/s':>9}{'us/msg':>8}{'p50':>7}{'p99':>8}"
        f"{'max':>8}{'gaps':>6}{'RSS MiB':>8}{'KB/conn':>8}{'idle KB':>8}{'gen CPU':>8}{'srv%':>6}{'core0':>6}"
        f"{'core1':>6}"
        f"{'msg B':>6}  sat"
    )
    print()
    print("results (latency in ms; idle KB = KB per idle connection)")
    print(header)
    print("-" * len(header))
    for run in runs:
        if not run.steps:
            print(f"{run.target.name:<8}{run.connections:>6}  no steps: {run.error or 'nothing measured'}")
            continue
        for step in run.steps:
            r = step.result
            flags = list(step.saturated)
            if step.client_busy > CLIENT_BUSY:
                flags.append("client")
            if step.shared:
                flags.append("shared")
            print(
                f"{run.target.name:<8}{run.connections:>6}{step.rate:>6,.0f}{r.ingest_rate:>7,.0f}"
                f"{r.delivered_rate:>9,.0f}{fmt(step.cpu_per_message, '.1f'):>8}{fmt(r.p50, '.1f'):>7}"
                f"{fmt(r.p99, '.1f'):>8}{fmt(r.max_latency, '.0f'):>8}{r.deliveries.gaps:>6}"
                f"{fmt(r.server_rss, '.0f'):>8}{fmt(run.loaded_kb(step), '.1f'):>8}{fmt(run.idle_kb, '.1f'):>8}"
                f"{r.generator_cpu:>8.1f}{step.server_share:>6.0%}{step.server_busy:>6.0%}{step.client_busy:>6.0%}"
                f"{fmt(step.message_bytes, '.0f'):>6}  {','.join(flags)}".rstrip()
            )


def peak_text(run: Run | None) -> str:
    if run is None or run.peak is None:
        return "not measured"
    peak = run.peak
    notes = [f"server at {peak.server_share:.0%} of its core"]
    if not run.saturated:
        notes.append("never saturated: the load, not a ceiling")
    elif peak.server_share < 0.9:
        # The one publisher waits for each POST's answer: a server that answers slowly but is not
        # busy throughout was held back by that round trip, so its true ceiling is somewhat higher.
        notes.append("not CPU-bound: its ceiling is higher")
    if peak.client_busy > CLIENT_BUSY:
        notes.append("client-bound: a floor")
    return (
        f"{peak.result.delivered_rate:,.0f} msg/s at {peak.rate:,.0f} updates/s, {peak.cpu_per_message:.1f} us/msg"
        f" ({'; '.join(notes)})"
    )


def equal_load(a: Run, b: Run) -> tuple[Step, Step] | None:
    """The steps of the highest rate that both servers ran without saturating, if any."""
    calm = {step.rate: step for step in b.steps if not step.saturated}
    common = [step for step in a.steps if not step.saturated and step.rate in calm]
    if not common:
        return None
    best = max(common, key=lambda step: step.rate)
    return best, calm[best.rate]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def judged(ok: bool, target: str, undecided: list[str]) -> str:
    if undecided:
        return f"target {target}: undecided, {' and '.join(undecided)} never saturated at these rates"
    return f"target {target}: {verdict(ok)}"


def compare(ours: Run, peer: Run, label: str, rate_target: float | None, cpu_target: float | None) -> None:
    """Delivered/s at saturation and CPU per message of one of ours against a peer."""
    mine, theirs = ours.peak, peer.peak
    if mine is None or theirs is None:
        return
    undecided = [run.target.name for run in (ours, peer) if not run.saturated]
    delivered = theirs.result.delivered_rate
    ratio = mine.result.delivered_rate / delivered if delivered else math.inf
    text = f"   {label}, delivered msg/s at saturation: {ratio:.2f}x"
    print(text + (f" ({judged(ratio >= rate_target, f'>= {rate_target:g}x', undecided)})" if rate_target else ""))
    cpu = theirs.cpu_per_message / mine.cpu_per_message if mine.cpu_per_message else math.nan
    text = (
        f"   {label}, CPU per message (theirs / ours): {peer.target.name} {theirs.cpu_per_message:.1f} us / "
        f"{ours.target.name} {mine.cpu_per_message:.1f} us = {cpu:.2f}x"
    )
    print(text + (f" ({judged(cpu >= cpu_target, f'>= {cpu_target:g}x', undecided)})" if cpu_target else ""))
    pair = equal_load(ours, peer)
    if pair is not None:
        # Below saturation oddsgate's per-update work (book, consensus, audit) is shared by fewer
        # messages, so the per-message ratio at the same load is worth showing too.
        mine_step, their_step = pair
        print(
            f"   {label}, CPU per message at the same load ({mine_step.rate:,.0f} updates/s, neither saturated): "
            f"{their_step.cpu_per_message:.1f} us / {mine_step.cpu_per_message:.1f} us = "
            f"{their_step.cpu_per_message / mine_step.cpu_per_message:.2f}x"
        )


def print_targets(runs: list[Run], connection_counts: list[int]) -> None:
    print()
    print("saturation (the best step of each) and targets")
    for connections in connection_counts:
        by_name = {run.target.name: run for run in runs if run.connections == connections}
        print(f"-- {connections:,} connections")
        for name in TARGETS:
            if name in by_name:
                print(f"   {name:<8} {peak_text(by_name[name])}")
        graphql, node = by_name.get("graphql"), by_name.get("node")
        if graphql and node:
            compare(graphql, node, "GraphQL vs Node", 2.0, 2.0)
        ws, raw = by_name.get("ws"), by_name.get("raw")
        if ws and raw:
            compare(ws, raw, "/ws vs raw ceiling", 0.5, None)
        for name in TARGETS:
            run = by_name.get(name)
            if run is None or not run.steps:
                continue
            conflated = sum(step.result.deliveries.conflated for step in run.steps)
            gap_text = f"0 gaps {verdict(run.gaps == 0)} ({run.gaps:,}; conflated {conflated:,})"
            idle_text = f"idle {run.idle_kb:.1f} KB/conn"
            if run.target.oddsgate:
                idle_text += f" (target <= {IDLE_KB_TARGET:g} KB: {verdict(run.idle_kb <= IDLE_KB_TARGET)})"
            print(f"   {name:<8} {gap_text}; {idle_text}")


# --- main ----------------------------------------------------------------------------------------


def numbers(text: str, kind: type[float] | type[int]) -> list[Any]:
    return [kind(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--servers", default="graphql,ws,node,raw", help="comma-separated: " + ", ".join(TARGETS))
    parser.add_argument("--connections", default="1000,5000", help="subscriber counts (default 1000,5000)")
    parser.add_argument(
        "--rates", default="500,1000,2000,4000,8000", help="updates/s steps, until saturated (default 500,...,8000)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of publishing per step (default 10)")
    parser.add_argument("--events", type=int, default=40, help="events the subscribers spread over (default 40)")
    parser.add_argument("--procs", type=int, default=4, help="subscriber processes, all on core 1 (default 4)")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between publish POSTs (default 0.01)")
    parser.add_argument("--max-batch-seconds", type=float, default=0.5, help="most updates in one POST, in s of rate")
    parser.add_argument("--drain", type=float, default=2.0, help="seconds to wait after publishing (default 2)")
    parser.add_argument("--drain-extra", type=float, default=10.0, help="more drain while messages arrive (10)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after connecting, before idle RSS (2)")
    parser.add_argument("--p99-limit", type=float, default=1000.0, help="p99 ms past which a step is saturated")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent: weight 1/rank^s (default 1)")
    parser.add_argument("--client-queue", type=int, default=256, help="ODDSGATE_CLIENT_QUEUE (default 256)")
    parser.add_argument("--slow-client-seconds", type=float, default=10.0, help="ODDSGATE_SLOW_CLIENT_SECONDS")
    parser.add_argument("--connect-concurrency", type=int, default=96, help="handshakes in flight in total (96)")
    parser.add_argument(
        "--quiet-wait", type=float, default=300.0, help="seconds to wait for other load to stop before a server (300)"
    )
    parser.add_argument("--retries", type=int, default=2, help="re-runs of a step that other load disturbed (2)")
    parser.add_argument("--seed", type=int, default=20260323)
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin servers and clients to cores")
    parser.add_argument("--quick", action="store_true", help="200 connections, two rates, 3 s: a smoke run")
    args = parser.parse_args(argv)
    args.server_list = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in args.server_list if name not in TARGETS]
    if unknown:
        parser.error(f"unknown servers {unknown}: use {', '.join(TARGETS)}")
    args.connection_list = numbers(args.connections, int)
    args.rate_list = numbers(args.rates, float)
    if args.quick:
        args.connection_list = [min(200, c) for c in args.connection_list[:1]]
        args.rate_list = args.rate_list[:2]
        args.seconds = min(args.seconds, 3.0)
        args.settle = min(args.settle, 1.0)
        args.drain = min(args.drain, 1.0)
        # A smoke run: it should end in a couple of minutes even on a busy machine.
        args.quiet_wait = min(args.quiet_wait, 20.0)
        args.retries = 0
    if not args.connection_list or not args.rate_list or min(args.connection_list) < 1 or min(args.rate_list) <= 0:
        parser.error("--connections and --rates need positive numbers")
    if args.procs < 1 or args.events < 1:
        parser.error("--procs and --events must be positive")
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
    print(
        f"pinning: each server on core {SERVER_CORE}; coordinator, publisher and subscriber processes on core "
        f"{CLIENT_CORE}"
        if args.pin
        else "pinning: none (servers and load generator share the cores)"
    )
    if "node" in args.server_list:
        reason = ensure_node()
        if reason is not None:
            print(f"node: SKIPPED: {reason}")
            args.server_list.remove("node")
        else:
            version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout
            print(f"node: {version.strip()}; {node_versions()}")
    loop = new_loop()
    print(f"uvicorn {uvicorn.__version__}; client event loop {loop.__module__}.{loop.__name__}")
    pairs = pairings(random.Random(args.seed), args.events)
    print(
        f"workload: {args.events} NFL events, Zipf s={args.zipf:g}; connections {args.connection_list}; rates "
        f"{[f'{r:g}' for r in args.rate_list]} updates/s, {args.seconds:g} s each (POSTs every "
        f"{args.interval * 1000:g} ms), drain {args.drain:g} s (+{args.drain_extra:g} while messages arrive); "
        f"{args.procs} subscriber processes; saturated: p99 > {args.p99_limit:g} ms or see the docstring"
    )
    for connections in args.connection_list:
        counts = sorted(
            Counter(assign(random.Random(args.seed + connections), connections, args.events, args.zipf)).values()
        )
        print(f"  {connections:,} connections: busiest event {counts[-1]}, quietest {counts[0]} subscribers")
    runs: list[Run] = []
    for connections in args.connection_list:
        for name in args.server_list:
            target = TARGETS[name]
            print()
            print(f"== {target.name} x {connections:,}: {target.description} ==", flush=True)
            busy = wait_quiet(args.quiet_wait)
            if max(busy.values(), default=0.0) > QUIET_BUSY:
                shares = ", ".join(f"{name} {share:.0%}" for name, share in sorted(busy.items()))
                print(f"WARNING: the machine is busy with other work ({shares}): figures unreliable", flush=True)
            started = time.perf_counter()
            run = run_server(target, connections, args, pairs)
            runs.append(run)
            tail = [line for line in run.log if line.strip()]
            print(
                f"[{target.name} {connections:,}] took {time.perf_counter() - started:.1f} s; "
                f"{exit_text(run.server_exit)}; server log {len(tail)} lines",
                flush=True,
            )
            for line in tail[:8]:
                print(f"    | {line}")
    print_table(runs)
    print_targets(runs, args.connection_list)
    print(f"total time: {time.perf_counter() - began:.1f} s")
    return 0 if runs and all(run.steps and not run.error for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
