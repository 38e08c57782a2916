"""Ingest benchmark: canonical updates through adapter -> normalize -> consensus -> book -> publish.

Run from the repository root:

    .venv/bin/python bench/ingest.py            # full run (~1.5 minutes)
    .venv/bin/python bench/ingest.py --quick    # ~3 s smoke run

The pipeline is wired as gateway/services.py wires it (same settings, adapters, consensus and book
configuration, the broadcast sink and the metrics sink, the per-payload metrics observation of
`Services.ingest`), except that the database audit writer is left out: it is off the hot path by
design. One extra throughput figure attaches the audit writer's buffering sink to show its cost;
its repository discards the rows (no database).

The workload is pre-generated with a seeded random.Random and encoded to canonical JSON payload
bytes before anything is timed. Everything runs in one asyncio loop on one pinned core; a consumer
subscribed to the deltas channel receives every delta. Nothing here asserts on time: it measures
and prints.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import platform
import random
import resource
import shlex
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson

from bench import cpu_model
from feeds.adapters import load_adapters
from feeds.aliases import DATA_DIR, AliasBook
from feeds.book import BookConfig, OddsBook
from feeds.broadcast import Broadcast, Overflowed
from feeds.consensus import METHOD, METHOD_VERSION, ConsensusConfig
from feeds.ingest import Ingestor, IngestResult
from feeds.normalize import Normalizer
from feeds.publish import DELTAS_CHANNEL, BroadcastSink, encode_delta
from gateway.metrics import Metrics
from gateway.settings import Settings
from schema.model import Delta, SourceQuote
from store.audit import AuditRepository, ChangeValues, DeadLetterValues, EventValues
from store.audit_journal import AuditJournal
from store.audit_writer import AuditWriter

ADAPTER = "canonical"
N_EVENTS = 40

# --- workload ------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Source:
    """A feed with its own margin, price noise and way of spelling things."""

    name: str
    margin: float
    noise: float
    style: int  # which vendor spelling of sports, markets and teams it uses
    labels: str  # "ids" (home/away/...), "numeric" (1/x/2 in 1x2), "names" (team names)


SOURCES = (
    Source("sharpline", 0.025, 0.004, 0, "ids"),
    Source("eurobet_feed", 0.050, 0.008, 1, "numeric"),
    Source("usbook", 0.045, 0.008, 2, "names"),
    Source("asiaodds", 0.065, 0.010, 0, "ids"),
)

OUTCOMES_OF = {
    "moneyline": ("home", "away"),
    "1x2": ("home", "draw", "away"),
    "spread": ("home", "away"),
    "total": ("over", "under"),
}
MARKET_SPELLING = {
    "moneyline": ("moneyline", "h2h", "money line"),
    "1x2": ("1x2", "match result", "1x2"),
    "spread": ("spread", "handicap", "point spread"),
    "total": ("total", "totals", "over/under"),
}


@dataclass(slots=True, frozen=True)
class SportSpec:
    sports: tuple[str, str, str]  # as the three styles of vendor write it
    league: str
    events: int
    main_market: str
    spread: tuple[float, ...]
    total: tuple[float, ...]
    alternate_total: bool


SPORTS = {
    "american_football": SportSpec(
        ("NFL", "American Football", "nfl"), "NFL", 14, "moneyline", (3.5, 7.0), (44.5, 47.5), True
    ),
    "football": SportSpec(("soccer", "Football", "soccer"), "EPL", 10, "1x2", (0.5, 0.25), (2.5, 2.75), False),
    "basketball": SportSpec(
        ("basketball", "NBA", "Basketball"), "NBA", 8, "moneyline", (4.5, 6.5), (221.5, 228.0), True
    ),
    "ice_hockey": SportSpec(("ice hockey", "NHL", "Ice Hockey"), "NHL", 4, "moneyline", (1.5,), (5.5, 6.0), False),
    "tennis": SportSpec(("tennis", "ATP", "Tennis"), "ATP", 4, "moneyline", (3.5, 4.5), (22.5, 23.5), False),
}
assert sum(spec.events for spec in SPORTS.values()) == N_EVENTS

# Team names the alias files do not know: accepted as written and slugified into event ids.
OTHER_TEAMS = {
    "football": (
        "Arsenal", "Chelsea", "Liverpool", "Manchester City", "Manchester United", "Tottenham Hotspur",
        "Newcastle United", "Aston Villa", "Brighton & Hove Albion", "West Ham United", "Everton",
        "Fulham", "Brentford", "Crystal Palace", "Wolverhampton Wanderers", "Nottingham Forest",
        "AFC Bournemouth", "Leeds United", "Burnley", "Sunderland",
    ),
    "basketball": (
        "Boston Celtics", "Los Angeles Lakers", "Golden State Warriors", "Denver Nuggets", "Milwaukee Bucks",
        "Phoenix Suns", "Miami Heat", "New York Knicks", "Dallas Mavericks", "Oklahoma City Thunder",
        "Minnesota Timberwolves", "Cleveland Cavaliers", "Philadelphia 76ers", "Sacramento Kings",
        "Indiana Pacers", "Orlando Magic",
    ),
    "ice_hockey": (
        "Toronto Maple Leafs", "Montreal Canadiens", "Boston Bruins", "New York Rangers", "Edmonton Oilers",
        "Colorado Avalanche", "Vegas Golden Knights", "Florida Panthers",
    ),
    "tennis": (
        "Carlos Alcaraz", "Jannik Sinner", "Novak Djokovic", "Alexander Zverev", "Daniil Medvedev",
        "Taylor Fritz", "Casper Ruud", "Holger Rune",
    ),
}  # fmt: skip


@dataclass(slots=True, frozen=True)
class Side:
    name: str
    spellings: tuple[str, str, str]  # per vendor style


@dataclass(slots=True, frozen=True)
class GenEvent:
    sport: str
    spec: SportSpec
    home: Side
    away: Side
    start_time: str
    status: str


@dataclass(slots=True)
class GenMarket:
    event: GenEvent
    kind: str
    line: float | None
    outcomes: tuple[str, ...]
    logits: list[float]
    sources: tuple[Source, ...]

    def fair(self) -> list[float]:
        weights = [math.exp(x) for x in self.logits]
        total = sum(weights)
        return [w / total for w in weights]


def nfl_sides() -> list[Side]:
    data = tomllib.loads((DATA_DIR / "teams_nfl.toml").read_text(encoding="utf-8"))
    sides = []
    for team in data["teams"]:
        aliases = [str(a) for a in team.get("aliases", [])]
        abbreviation = aliases[0] if aliases else team["name"]
        nickname = aliases[-2] if len(aliases) >= 2 else team["name"]
        sides.append(Side(team["name"], (team["name"], abbreviation, nickname)))
    return sides


def build_markets(rng: random.Random, now: datetime) -> list[GenMarket]:
    markets: list[GenMarket] = []
    for sport, spec in SPORTS.items():
        pool = nfl_sides() if sport == "american_football" else [Side(n, (n, n, n)) for n in OTHER_TEAMS[sport]]
        rng.shuffle(pool)
        for index in range(spec.events):
            home, away = pool[2 * index], pool[2 * index + 1]
            start = (now + timedelta(hours=rng.randint(-2, 72))).replace(minute=0, second=0, microsecond=0)
            status = "live" if start <= now else "scheduled"
            event = GenEvent(sport, spec, home, away, start.isoformat().replace("+00:00", "Z"), status)
            kinds: list[tuple[str, float | None]] = [
                (spec.main_market, None),
                ("spread", -rng.choice(spec.spread) * rng.choice((1, -1))),
                ("total", rng.choice(spec.total)),
            ]
            if spec.alternate_total:
                kinds.append(("total", (kinds[2][1] or 0.0) + 3.0))
            for kind, line in kinds:
                outcomes = OUTCOMES_OF[kind]
                logits = [rng.gauss(0.0, 0.5) for _ in outcomes]
                if kind == "1x2":
                    logits[1] -= 0.4
                quoted = SOURCES if rng.random() < 0.6 else tuple(rng.sample(SOURCES, 3))
                markets.append(GenMarket(event, kind, line, outcomes, logits, quoted))
    return markets


def outcome_label(market: GenMarket, source: Source, outcome: str) -> str:
    if source.labels == "numeric" and market.kind == "1x2":
        return {"home": "1", "draw": "X", "away": "2"}[outcome]
    if source.labels != "names":
        return outcome
    event = market.event
    if outcome in ("over", "under"):
        return f"{outcome.capitalize()} {market.line:g}"
    if outcome == "draw":
        return "Draw"
    team = (event.home if outcome == "home" else event.away).spellings[source.style]
    if market.kind == "spread" and market.line is not None:
        handicap = market.line if outcome == "home" else -market.line
        return f"{team} {handicap:+g}"
    return team


def make_update(rng: random.Random, market: GenMarket, source: Source, timestamp: str) -> dict[str, Any]:
    # The market drifts; each source quotes it with its own margin and a little noise of its own.
    if rng.random() < 0.7:
        for i in range(len(market.logits)):
            market.logits[i] += rng.gauss(0.0, 0.03)
    prices = []
    for outcome, p in zip(market.outcomes, market.fair(), strict=True):
        implied = p * (1.0 + source.margin) * math.exp(rng.gauss(0.0, source.noise))
        odds = max(1.01, min(1000.0, round(1.0 / implied, 2)))
        prices.append({"id": outcome_label(market, source, outcome), "odds": odds})
    event = market.event
    return {
        "sport": event.spec.sports[source.style],
        "league": event.spec.league,
        "home_team": event.home.spellings[source.style],
        "away_team": event.away.spellings[source.style],
        "start_time": event.start_time,
        "status": event.status,
        "market": MARKET_SPELLING[market.kind][source.style],
        "line": market.line,
        "outcomes": prices,
        "timestamp": timestamp,
    }


@dataclass(slots=True)
class Workload:
    """The same updates encoded two ways: batches of `batch` per payload, and one per payload."""

    updates: int
    batch: int
    batched: list[bytes] = field(default_factory=list)
    single: list[bytes] = field(default_factory=list)


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.markets = build_markets(self.rng, self.now)
        self.by_source = {s.name: [m for m in self.markets if s in m.sources] for s in SOURCES}
        # Update timestamps count up 1 ms per update from an hour ago, so no update is ever stale.
        self.clock = self.now - timedelta(hours=1)
        self.turn = 0

    def group(self, size: int) -> tuple[str, list[dict[str, Any]]]:
        """`size` consecutive updates from one source, as a feed pushes them; sources take turns."""
        source = SOURCES[self.turn % len(SOURCES)]
        self.turn += 1
        updates = []
        for _ in range(size):
            self.clock += timedelta(milliseconds=1)
            stamp = self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            updates.append(make_update(self.rng, self.rng.choice(self.by_source[source.name]), source, stamp))
        return source.name, updates

    def workload(self, updates: int, batch: int, *, single: bool = True) -> Workload:
        work = Workload(updates, batch)
        remaining = updates
        while remaining > 0:
            source, group = self.group(min(batch, remaining))
            remaining -= len(group)
            work.batched.append(orjson.dumps({"source": source, "updates": group}))
            if single:
                work.single.extend(orjson.dumps({"source": source, "updates": [u]}) for u in group)
        return work

    def describe(self) -> str:
        counts = {sport: spec.events for sport, spec in SPORTS.items()}
        sports = ", ".join(f"{n} {sport}" for sport, n in counts.items())
        kinds: dict[str, int] = {}
        for m in self.markets:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        markets = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        quotes = sum(len(m.sources) for m in self.markets)
        return (
            f"{N_EVENTS} events ({sports}); {len(self.markets)} markets ({markets}); "
            f"{len(SOURCES)} sources, {quotes} source-market streams"
        )


# --- pipeline ------------------------------------------------------------------------------------


class DiscardingRepository(AuditRepository):
    """Stands in for the database: the audit writer hands it rows and they are dropped."""

    def __init__(self) -> None:
        self.rows = 0

    async def append(
        self,
        events: Sequence[EventValues],
        changes: Sequence[ChangeValues],
        progress: Mapping[str, int] | None = None,
        dead: Sequence[DeadLetterValues] = (),
    ) -> None:
        self.rows += len(changes)

    async def journal_progress(self, segment: str) -> int:
        return 0

    async def forget_segments(self, segments: Sequence[str]) -> None:
        return None


class Pipeline:
    """What start_services wires on the ingest path, minus the database (and its audit writer)."""

    def __init__(self, settings: Settings, *, audit: bool = False, extra_sinks: Sequence[Callable[[Delta], None]] = ()):
        self.broadcast = Broadcast("memory://", queue_size=settings.broadcast_queue)
        self.metrics = Metrics()
        self.audit: AuditWriter | None = None
        self.journal_dir: tempfile.TemporaryDirectory[str] | None = None
        if audit:
            # The journal on the same disk the gateway would use: its write per delta is the cost.
            self.journal_dir = tempfile.TemporaryDirectory(prefix="oddsgate-bench-journal-", dir=".")
            self.audit = AuditWriter(
                DiscardingRepository(),
                AuditJournal(Path(self.journal_dir.name)),
                method=METHOD,
                method_version=METHOD_VERSION,
                interval=settings.audit_interval,
                batch=settings.audit_batch,
            )
        sinks: list[Callable[[Delta], None]] = [
            BroadcastSink(self.broadcast, audit=self.audit.record if self.audit is not None else None),
            self.metrics.delta_sink(),
        ]
        self.book = OddsBook(
            BookConfig(source_down_after=settings.source_down_after, auto_suspend=settings.auto_suspend),
            consensus_config(settings),
            sinks=[*sinks, *extra_sinks],
        )
        self.ingestor = Ingestor(self.book, Normalizer(AliasBook.load()), load_adapters())
        self.accepted = 0
        self.rejected = 0
        self.first_rejection = ""

    def ingest(self, payload: bytes) -> IngestResult:
        """As Services.ingest: the ingest call, timed into the metrics."""
        started = time.perf_counter()
        result = self.ingestor.ingest(ADAPTER, payload)
        self.metrics.observe_ingest(ADAPTER, result, time.perf_counter() - started)
        self.accepted += result.accepted
        if result.rejected:
            self.rejected += len(result.rejected)
            self.first_rejection = self.first_rejection or result.rejected[0].reason
        return result

    async def start(self) -> None:
        await self.broadcast.connect()
        if self.audit is not None:
            self.audit.start()

    async def stop(self) -> None:
        if self.audit is not None:
            await self.audit.stop()
        if self.journal_dir is not None:
            self.journal_dir.cleanup()
        await self.broadcast.disconnect()


def consensus_config(settings: Settings) -> ConsensusConfig:
    return ConsensusConfig(
        accuracy=dict(settings.source_weights),
        fresh_seconds=settings.fresh_seconds,
        stale_seconds=settings.stale_seconds,
        outlier_logit=settings.outlier_logit,
        divergence=settings.divergence,
    )


class Consumer:
    """One subscriber on the deltas channel; with `stamps`, also the latency of each delta."""

    def __init__(self, broadcast: Broadcast, stamps: dict[tuple[str, int], tuple[float, float]] | None = None):
        self.broadcast = broadcast
        self.stamps = stamps
        self.received = 0
        self.overflowed = False
        self.unmatched = 0
        self.from_scheduled: list[float] = []
        self.from_call: list[float] = []
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="bench-consumer")
        await self.ready.wait()

    async def _run(self) -> None:
        try:
            async with self.broadcast.subscribe(DELTAS_CHANNEL) as subscription:
                self.ready.set()
                while True:
                    message = await subscription.get()
                    received = time.perf_counter()
                    self.received += 1
                    if self.stamps is not None:
                        body = orjson.loads(message)
                        stamp = self.stamps.pop((body["event_id"], body["seq"]), None)
                        if stamp is None:
                            self.unmatched += 1
                        else:
                            self.from_scheduled.append(received - stamp[0])
                            self.from_call.append(received - stamp[1])
        except Overflowed:
            self.overflowed = True
            self.ready.set()

    async def drain(self, within: float = 60.0) -> None:
        """Yield to the loop until every published delta has been received."""
        deadline = time.perf_counter() + within
        while self.received < self.broadcast.stats.published and not self.overflowed:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {self.received} of {self.broadcast.stats.published} deltas arrived")
            await asyncio.sleep(0)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


# --- measurements --------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Usage:
    """CPU time of this process and how often the kernel took the core away (others wanted it)."""

    cpu: float
    preempted: int

    @classmethod
    def now(cls) -> Usage:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(usage.ru_utime + usage.ru_stime, usage.ru_nivcsw)

    def since(self, start: Usage) -> Usage:
        return Usage(self.cpu - start.cpu, self.preempted - start.preempted)


@dataclass(slots=True)
class Throughput:
    label: str
    updates: int
    seconds: float
    deltas: int
    delivered: int
    overflowed: bool
    rejected: int
    first_rejection: str
    usage: Usage


async def throughput(label: str, payloads: list[bytes], updates: int, settings: Settings, *, audit: bool) -> Throughput:
    pipeline = Pipeline(settings, audit=audit)
    await pipeline.start()
    consumer = Consumer(pipeline.broadcast)
    await consumer.start()
    gc.collect()
    ingest = pipeline.ingest
    usage = Usage.now()
    started = time.perf_counter()
    for payload in payloads:
        ingest(payload)
        # Let the broadcast publisher, pump and consumer run, as between two requests.
        await asyncio.sleep(0)
    await consumer.drain()
    seconds = time.perf_counter() - started
    used = Usage.now().since(usage)
    await consumer.stop()
    await pipeline.stop()
    return Throughput(
        label,
        updates,
        seconds,
        pipeline.broadcast.stats.published,
        consumer.received,
        consumer.overflowed,
        pipeline.rejected,
        pipeline.first_rejection,
        used,
    )


@dataclass(slots=True)
class Latency:
    rate: float
    per_payload: int
    updates: int
    seconds: float
    deltas: int
    from_scheduled: list[float]
    from_call: list[float]
    call: list[float]
    late: list[float]
    unmatched: int
    overflowed: bool
    rejected: int
    usage: Usage


class _Current:
    scheduled = 0.0
    started = 0.0


async def latency(payloads: list[bytes], per_payload: int, rate: float, settings: Settings) -> Latency:
    stamps: dict[tuple[str, int], tuple[float, float]] = {}
    current = _Current()

    def stamp(delta: Delta) -> None:
        stamps[(delta.event_id, delta.seq)] = (current.scheduled, current.started)

    pipeline = Pipeline(settings, extra_sinks=[stamp])
    await pipeline.start()
    consumer = Consumer(pipeline.broadcast, stamps)
    await consumer.start()
    gc.collect()
    interval = per_payload / rate
    call: list[float] = []
    late: list[float] = []
    clock = time.perf_counter
    usage = Usage.now()
    origin = clock() + 0.005
    for index, payload in enumerate(payloads):
        scheduled = origin + index * interval
        # Yield at least once per payload, even when behind schedule, so deltas flow out as they
        # would between two requests. The selector sleeps in whole milliseconds: sleep the bulk,
        # then spin through the loop.
        await asyncio.sleep(0)
        while (delay := scheduled - clock()) > 0:  # noqa: ASYNC110 - a pacer, not a wait for a condition
            await asyncio.sleep(delay - 0.0015 if delay > 0.002 else 0)
        current.scheduled, current.started = scheduled, clock()
        pipeline.ingest(payload)
        call.append(clock() - current.started)
        late.append(current.started - scheduled)
    await consumer.drain()
    seconds = clock() - origin
    used = Usage.now().since(usage)
    await consumer.stop()
    await pipeline.stop()
    updates = len(payloads) * per_payload
    return Latency(
        rate,
        per_payload,
        updates,
        seconds,
        pipeline.broadcast.stats.published,
        consumer.from_scheduled,
        consumer.from_call,
        call,
        late,
        consumer.unmatched,
        consumer.overflowed,
        pipeline.rejected,
        used,
    )


def stages(payloads: list[bytes], updates: int, settings: Settings) -> list[tuple[str, float]]:
    """Cumulative cost per update of each stage, synchronously, without the loop or broadcast."""
    adapter = load_adapters()[ADAPTER]
    results: list[tuple[str, float]] = []

    def timed(label: str, run: Callable[[], None]) -> None:
        gc.collect()
        started = time.perf_counter()
        run()
        results.append((label, (time.perf_counter() - started) / updates))

    def parse() -> None:
        for payload in payloads:
            for _ in adapter.parse(payload):
                pass

    def normalize() -> None:
        normalizer = Normalizer(AliasBook.load())
        for payload in payloads:
            for item in adapter.parse(payload):
                if isinstance(item, SourceQuote):
                    normalizer.normalize(item)

    def book(sinks: Sequence[Callable[[Delta], None]]) -> Callable[[], None]:
        def run() -> None:
            odds = OddsBook(
                BookConfig(source_down_after=settings.source_down_after, auto_suspend=settings.auto_suspend),
                consensus_config(settings),
                sinks=sinks,
            )
            ingestor = Ingestor(odds, Normalizer(AliasBook.load()), load_adapters())
            for payload in payloads:
                ingestor.ingest(ADAPTER, payload)

        return run

    def encode(delta: Delta) -> None:
        encode_delta(delta)

    timed("adapter (orjson + canonical parse)", parse)
    timed("+ normalize", normalize)
    timed("+ consensus + book (no sinks)", book([]))
    timed("+ delta JSON encoding (encode_delta)", book([encode]))
    return results


# --- output --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def print_throughput(result: Throughput) -> None:
    label = result.label
    print(f"throughput ({label}): {result.updates / result.seconds:,.0f} updates/s")
    per_update = result.deltas / result.updates
    print(f"deltas ({label}): {result.deltas / result.seconds:,.0f} deltas/s ({per_update:.2f} per update)")
    print(f"delivered ({label}): {result.delivered / result.seconds:,.0f} deltas/s to the subscriber")
    micros = result.seconds / result.updates * 1e6
    print(f"time per update ({label}): {micros:.1f} us ({result.seconds:.2f} s for {result.updates:,} updates)")
    print(
        f"cpu ({label}): {result.usage.cpu / result.seconds:.0%} of wall time, "
        f"{result.usage.preempted:,} involuntary context switches (other processes on the core)"
    )
    if result.rejected:
        print(f"REJECTED ({label}): {result.rejected:,} updates, first: {result.first_rejection}")
    if result.overflowed or result.delivered != result.deltas:
        print(f"NOT DELIVERED ({label}): {result.deltas - result.delivered:,} deltas (overflowed={result.overflowed})")


def print_latency(result: Latency) -> None:
    size = f"{result.per_payload} update{'s' if result.per_payload > 1 else ''}"
    print(
        f"latency setup: {result.rate:,.0f} updates/s paced for {result.seconds:.1f} s in payloads of {size}; "
        f"{result.updates:,} updates, {len(result.from_scheduled):,} deltas matched by event_id+seq"
    )
    print(f"latency achieved rate: {result.updates / result.seconds:,.0f} updates/s")
    rows = (
        ("latency scheduled send -> delta received", result.from_scheduled),
        ("latency ingest call start -> delta received", result.from_call),
        ("ingest call duration per payload", result.call),
        ("pacer lateness (call start - scheduled)", result.late),
    )
    for label, values in rows:
        if values:
            for name, q in (("p50", 0.5), ("p99", 0.99)):
                print(f"{label} {name}: {percentile(values, q) * 1e3:.3f} ms")
            print(f"{label} max: {max(values) * 1e3:.3f} ms")
    print(f"latency updates without a delta (no served price changed): {result.updates - result.deltas:,}")
    print(f"latency involuntary context switches: {result.usage.preempted:,} (other processes on the core)")
    if result.unmatched or result.overflowed or result.rejected:
        problems = f"unmatched={result.unmatched} overflowed={result.overflowed} rejected={result.rejected}"
        print(f"LATENCY PROBLEMS: {problems}")


def new_loop(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=200_000, help="updates per throughput run (default 200,000)")
    parser.add_argument("--batch", type=int, default=100, help="updates per payload in batch mode (default 100)")
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0; -1: do not pin)")
    parser.add_argument("--rate", type=float, default=5000.0, help="updates/s for the latency run (default 5,000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency run (default 5 s)")
    parser.add_argument("--latency-batch", type=int, default=1, help="updates per payload when paced (default 1)")
    parser.add_argument("--stage-updates", type=int, default=50_000, help="updates for the per-stage costs")
    parser.add_argument("--seed", type=int, default=20260323)
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop; auto = uvloop when installed, as uvicorn picks (default)",
    )
    parser.add_argument("--no-audit", action="store_true", help="skip the run with the audit writer's sink")
    parser.add_argument("--no-single", action="store_true", help="skip the one-update-per-payload run")
    parser.add_argument("--quick", action="store_true", help="a ~3 s smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.updates = min(args.updates, 4_000)
        args.seconds = min(args.seconds, 0.4)
        args.stage_updates = min(args.stage_updates, 2_000)
    return args


async def measure(args: argparse.Namespace, settings: Settings) -> None:
    generator = Generator(args.seed)
    print(f"workload: {generator.describe()}; seed {args.seed}")
    work = generator.workload(args.updates, args.batch, single=not args.no_single)
    paced = generator.workload(max(1, round(args.rate * args.seconds)), args.latency_batch, single=False)
    stage_work = Generator(args.seed).workload(min(args.stage_updates, args.updates), args.batch, single=False)
    print(
        "pipeline: canonical adapter -> Normalizer -> OddsBook (consensus) -> sinks [BroadcastSink(memory://), "
        "metrics]; Services.ingest metrics per payload; one subscriber on " + DELTAS_CHANNEL
    )
    print("throughput: whole run until the subscriber has received the last delta; the loop runs after each payload")

    print_throughput(await throughput(f"batch={args.batch}", work.batched, work.updates, settings, audit=False))
    if not args.no_single:
        print_throughput(await throughput("batch=1", work.single, work.updates, settings, audit=False))
    if not args.no_audit:
        print("audit: AuditWriter sink attached and its task running; its repository discards rows (no database)")
        label = f"batch={args.batch} +audit buffering"
        print_throughput(await throughput(label, work.batched, work.updates, settings, audit=True))

    print_latency(await latency(paced.batched, args.latency_batch, args.rate, settings))

    print(f"stage costs: synchronous, cumulative, {stage_work.updates:,} updates in payloads of {args.batch}")
    previous = 0.0
    for label, cost in stages(stage_work.batched, stage_work.updates, settings):
        print(f"stage {label}: {cost * 1e6:.1f} us/update (+{(cost - previous) * 1e6:.1f})")
        previous = cost


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"python: {platform.python_implementation()} {sys.version.split()[0]} ({platform.platform()})")
    print(f"cpu: {cpu_model()} ({os.cpu_count()} logical cores)")
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})
    print(f"pinned to cores: {sorted(os.sched_getaffinity(0))}")
    loop_factory = new_loop(args.loop)
    print(f"event loop: {loop_factory.__module__}.{loop_factory.__name__}")
    settings = Settings()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(measure(args, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
