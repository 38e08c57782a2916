"""Betting benchmark: accepted bets per second on PostgreSQL, beside pgbench on the same server.

Run from the repository root:

    .venv/bin/python bench/bets.py                 # 16, 32 and 64 clients, 20 s each for bets and pgbench
    .venv/bin/python bench/bets.py --clients 16    # one client count
    .venv/bin/python bench/bets.py --quick         # 4 clients, 5 s each

A throwaway PostgreSQL is started (initdb/pg_ctl, as the tests do). Bets are placed in-process
through `BetService.place`, the same code the REST route calls: revalidation against a live book,
risk limits, the stake locked, exposure moved and the idempotency key stored, in SERIALIZABLE
transactions with retries; placements that arrive together share a transaction (group commit), each
still decided alone. 200 funded users bet on 40 markets from each count of concurrent clients.
pgbench then runs its built-in TPC-B-like script (`-c` clients, `-j 2`) against a scale-1 database
on the same server for the same time. Both figures, and their ratio, are printed; nothing asserts.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import asyncio
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from schema.commands import PlaceBet

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench import cpu_model
from betting.acceptance import BetGuards
from betting.placement import BetService, Bettor
from betting.risk import RiskBook, RiskLimits
from betting.wallet import WalletService
from feeds.book import OddsBook
from schema.model import EventInfo, EventStatus, MarketQuote, MarketType
from schema.visibility import EVERYTHING
from store.db import create_engine
from store.migrate import upgrade_async
from tests.support.servers import postgres_server

USERS = [f"punter{i}" for i in range(200)]


async def create(cluster: str, name: str) -> str:
    admin = create_async_engine(cluster, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return cluster.rsplit("/", 1)[0] + f"/{name}"


def priced_book(events: int) -> tuple[OddsBook, list[str]]:
    book = OddsBook()
    ids = []
    now = datetime.now(UTC)
    for n in range(events):
        info = EventInfo(f"bench-{n}", "american_football", "NFL", f"Home {n}", f"Away {n}", now)
        book.apply(
            MarketQuote(
                "a",
                info,
                EventStatus.LIVE,
                "moneyline",
                MarketType.MONEYLINE,
                None,
                (("home", Decimal("1.90")), ("away", Decimal("1.95"))),
                False,
                now,
            )
        )
        ids.append(info.id)
    return book, ids


async def bets_per_second(url: str, clients: int, seconds: float) -> tuple[float, int, int]:
    await upgrade_async(url)
    engine = create_engine(url, immediate=True)
    wallets = WalletService(engine)
    for user in USERS:
        await wallets.deposit(user, Decimal("100000.00"), f"seed-{user}")
    book, events = priced_book(40)
    limits = RiskLimits(bets_per_day=10**9, daily_loss=Decimal(10**12), pending_exposure=Decimal(10**12))
    service = BetService(wallets, book, RiskBook(limits), BetGuards(inplay_delay=0))
    accepted = refused = 0
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        nonlocal accepted, refused
        rng = random.Random(index)
        while time.monotonic() < deadline:
            body = {
                "event_id": rng.choice(events),
                "market_id": "moneyline",
                "outcome_id": rng.choice(["home", "away"]),
                "stake": "1.00",
                "odds": "1.90",
                "accept": "any",
            }
            try:
                bettor = Bettor(rng.choice(USERS), None, True)
                await service.place(bettor, f"{index}-{rng.random()}", PlaceBet(**body), EVERYTHING)
                accepted += 1
            except Exception:
                refused += 1

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    problems = await wallets.check()
    await engine.dispose()
    if problems:
        print("LEDGER PROBLEMS:", *problems, sep="\n  ")
    return accepted / elapsed, accepted, refused


def pgbench_tps(url: str, clients: int, seconds: float) -> float:
    parsed = make_url(url)
    common = ["-h", str(parsed.host), "-p", str(parsed.port), "-U", str(parsed.username)]
    subprocess.run(["pgbench", *common, "-i", "-s", "1", "-q", str(parsed.database)], check=True, capture_output=True)
    run = subprocess.run(
        ["pgbench", *common, "-c", str(clients), "-j", "2", "-T", str(int(seconds)), str(parsed.database)],
        check=True,
        capture_output=True,
        text=True,
    )
    found = re.search(r"tps = ([0-9.]+)", run.stdout)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{run.stdout}\n{run.stderr}")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", default="16,32,64", help="comma-separated client counts, each run on both")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in str(args.clients).split(",")]
    if args.quick:
        counts, args.seconds = [4], 5.0
    rows = []
    with postgres_server() as cluster:
        for clients in counts:
            bets_url = asyncio.run(create(cluster, f"bets{clients}"))
            tpcb_url = asyncio.run(create(cluster, f"tpcb{clients}"))
            rate, accepted, refused = asyncio.run(bets_per_second(bets_url, clients, args.seconds))
            tps = pgbench_tps(tpcb_url.replace("+asyncpg", ""), clients, args.seconds)
            rows.append((clients, rate, accepted, refused, tps))
    print(f"{args.seconds:.0f} s per run, PostgreSQL from the tests' initdb/pg_ctl, {cpu_model()}")
    print(f"{'clients':>7} {'bets/s':>8} {'accepted':>9} {'refused':>8} {'pgbench tps':>12} {'ratio':>6}")
    for clients, rate, accepted, refused, tps in rows:
        print(f"{clients:>7} {rate:>8,.0f} {accepted:>9,} {refused:>8,} {tps:>12,.0f} {rate / tps:>5.2f}x")
    print("target: >= 0.5x pgbench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
