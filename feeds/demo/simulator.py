"""The demo feed: simulated vendors sending realistic payloads, so `make run` shows live odds.

It only writes vendor wire payloads (raw bytes) and hands them to an ingest callback; the gateway
wires that to its real pipeline (adapter -> normalize -> consensus -> book), exactly as a real feed.

    sim = Simulator(seed=7, clock=my_clock)   # deterministic: drive it with `tick()`
    payloads = sim.tick()                     # everything due since the previous tick
    await run_demo(ingest, rate=20.0)         # real time, until `stop` is set
    record("replay.jsonl", seconds=60, seed=7)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feeds.demo.fixtures import DATA_DIR, SimEvent, TrueMarket, World, load_teams
from feeds.demo.vendors import VENDORS, Context, Stats, Vendor

log = logging.getLogger(__name__)

# A longer gap between ticks (a suspended laptop, a stalled loop) is simulated as this much.
MAX_STEP_SECONDS = 5.0
TICK_SECONDS = 0.1
RECORD_STEP_SECONDS = 0.05
# Recordings start here unless told otherwise, so the same seed always gives the same file.
RECORD_START = datetime(2026, 3, 23, 19, 0, tzinfo=UTC)
JSON_ADAPTERS = frozenset({"decimal_json", "american_json"})


@dataclass(frozen=True, slots=True)
class Payload:
    """One vendor message: the adapter that reads it, its raw bytes, and the source if the body has none."""

    adapter: str
    body: bytes
    source: str | None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Simulator:
    """The demo world and its vendors; `tick()` is the whole step API and never sleeps."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Callable[[], datetime] = _utc_now,
        rate: float = 20.0,
        data_dir: Path = DATA_DIR,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        master = random.Random(seed)
        # Separate streams, so a change to one vendor does not reshuffle the world or the others.
        self._world = World(random.Random(master.getrandbits(64)), load_teams(data_dir))
        self.vendors: tuple[Vendor, ...] = tuple(cls(random.Random(master.getrandbits(64))) for cls in VENDORS)
        self._network = random.Random(master.getrandbits(64))
        self.stats = Stats()
        self.rate = rate
        self._clock = clock
        self._last: datetime | None = None
        self._alive: set[int] = set()
        self._t = 0.0

    @property
    def events(self) -> tuple[SimEvent, ...]:
        return tuple(self._world.events)

    @property
    def elapsed(self) -> float:
        """Demo seconds since the first tick."""
        return self._t

    def tick(self) -> list[Payload]:
        """Advance to the clock's now and return the vendor messages due in between."""
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the simulator clock must return aware datetimes")
        if self._last is None:
            self._last = now
            self._world.populate(now)
            return []
        dt = min(max((now - self._last).total_seconds(), 0.0), MAX_STEP_SECONDS)
        self._last = now
        self._t += dt
        self._world.advance(now, dt)
        alive = {event.key for event in self._world.events}
        gone = alive != self._alive
        self._alive = alive
        cache: dict[int, list[TrueMarket]] = {}

        def markets(event: SimEvent) -> list[TrueMarket]:
            if event.key not in cache:
                cache[event.key] = event.markets(now)
            return cache[event.key]

        ctx = Context(now, self._t, markets, self.stats)
        streams: list[list[Payload]] = []
        for vendor in self.vendors:
            payloads: list[Payload] = []
            streams.append(payloads)
            if gone:
                vendor.forget(alive)
            if not vendor.online(self._t):
                vendor.credit = 0.0
                continue
            # Credit for at most a second's messages, so a slow consumer never causes a burst.
            vendor.credit = min(vendor.credit + dt * self.rate * vendor.share, max(1.0, self.rate * vendor.share))
            while vendor.credit >= 1.0:
                vendor.credit -= 1.0
                body = vendor.message(self._world.events, ctx)
                if body is not None:
                    payloads.append(Payload(vendor.adapter, body, vendor.source))
        # Interleave the vendors as a network would, but keep each vendor's own messages in order:
        # a delta stream's fixture must come before its prices, and a later price wins.
        turns = [index for index, stream in enumerate(streams) for _ in stream]
        self._network.shuffle(turns)
        queues = [iter(stream) for stream in streams]
        return [next(queues[index]) for index in turns]


class _ErrorLog:
    """Logs the first few failures a minute in full and counts the rest, so a broken sink cannot flood."""

    def __init__(self, per_minute: int = 5) -> None:
        self.per_minute = per_minute
        self.window = time.monotonic()
        self.logged = 0
        self.skipped = 0

    def report(self, what: str) -> None:
        now = time.monotonic()
        if now - self.window >= 60.0:
            if self.skipped:
                log.warning("demo feed: %d more %s failures in the last minute", self.skipped, what)
            self.window, self.logged, self.skipped = now, 0, 0
        if self.logged < self.per_minute:
            self.logged += 1
            log.exception("demo feed: %s failed; carrying on", what)
        else:
            self.skipped += 1


async def run_demo(
    ingest: Callable[[Payload], Awaitable[object]],
    *,
    rate: float = 20.0,
    seed: int | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Feed `ingest` about `rate` vendor messages a second in real time until `stop` is set.

    A failing ingest (or simulator step) is logged and skipped; only cancellation ends it early.
    """
    simulator = Simulator(seed=seed, rate=rate)
    stop = stop if stop is not None else asyncio.Event()
    errors = _ErrorLog()
    loop = asyncio.get_running_loop()
    due = loop.time()
    log.info("demo feed started: %.1f messages/s, seed %s", rate, seed)
    while not stop.is_set():
        try:
            payloads = simulator.tick()
        except Exception:
            errors.report("simulator step")
            payloads = []
        for payload in payloads:
            if stop.is_set():
                break
            try:
                await ingest(payload)
            except Exception:
                errors.report(f"ingest of a {payload.adapter} payload")
        due += TICK_SECONDS
        delay = due - loop.time()
        if delay < 0:
            # Behind (a slow ingest): start afresh rather than racing to catch up.
            due, delay = loop.time(), 0.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(delay, 0.001))
    log.info("demo feed stopped")


class _ManualClock:
    def __init__(self, start: datetime) -> None:
        self.start = start
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


def record(
    path: str | os.PathLike[str],
    *,
    seconds: float,
    seed: int,
    rate: float = 20.0,
    start: datetime = RECORD_START,
) -> int:
    """Write `seconds` of simulated demo (no sleeping) as a JSONL replay; returns the line count.

    Each line: {"at": seconds since start, "adapter", "source", "payload"}, where the payload is
    the JSON object for JSON adapters and the raw text for CSV and NDJSON ones.
    """
    clock = _ManualClock(start)
    simulator = Simulator(seed=seed, clock=clock, rate=rate)
    simulator.tick()
    count = 0
    steps = round(seconds / RECORD_STEP_SECONDS)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for step in range(1, steps + 1):
            clock.seconds = step * RECORD_STEP_SECONDS
            for payload in simulator.tick():
                text = payload.body.decode("utf-8")
                line = {
                    "at": round(clock.seconds, 3),
                    "adapter": payload.adapter,
                    "source": payload.source,
                    "payload": json.loads(text) if payload.adapter in JSON_ADAPTERS else text,
                }
                out.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
                count += 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record the demo feed as a JSONL replay.")
    parser.add_argument("path", help="where to write the replay")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=20.0, help="vendor messages per second")
    args = parser.parse_args(argv)
    lines = record(args.path, seconds=args.seconds, seed=args.seed, rate=args.rate)
    print(f"wrote {lines} payloads to {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
