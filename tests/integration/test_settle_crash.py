"""A process killed in the middle of settling a market leaves nothing of it applied, and settling
again completes it (real PostgreSQL, a real process, SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from decimal import Decimal

import pytest
from sqlalchemy import text

from betting.acceptance import BetGuards
from betting.catalog import KnownMarkets
from betting.placement import BetService, Bettor
from betting.risk import RiskBook, RiskLimits
from betting.settling import SettlementService
from betting.wallet import WalletService
from feeds.book import OddsBook
from schema.answers import Made
from schema.commands import PlaceBet, SettleMarket
from schema.model import EventStatus
from schema.visibility import EVERYTHING
from store.audit import AuditRepository
from store.db import create_engine
from store.migrate import upgrade_async
from tests.conftest import create_database
from tests.support.servers import REPO
from tests.unit.test_book import EVENT, Clock, q

pytestmark = pytest.mark.e2e
BETS = 400

SETTLER = textwrap.dedent(
    """
    import asyncio, sys
    from betting.catalog import KnownMarkets
    from betting.settling import SettlementService
    from betting.wallet import WalletService
    from feeds.book import OddsBook
    from store.audit import AuditRepository
    from store.db import create_engine

    async def main(url):
        engine = create_engine(url, immediate=True)
        service = SettlementService(WalletService(engine), KnownMarkets(OddsBook(), AuditRepository(engine)))
        print("settling", flush=True)
        await service.settle("crash-test", {"event_id": sys.argv[2], "market_id": "moneyline",
                                           "winning_outcome_ids": ["home"]})
        print("settled", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


async def counts(wallets: WalletService) -> tuple[int, int, int]:
    async with wallets.engine.connect() as conn:
        settled = (await conn.execute(text("SELECT COUNT(*) FROM bets WHERE status = 'settled'"))).scalar_one()
        results = (await conn.execute(text("SELECT COUNT(*) FROM market_results"))).scalar_one()
        entries = (await conn.execute(text("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'settle'"))).scalar_one()
    return int(settled), int(results), int(entries)


async def test_a_settlement_killed_midway_is_all_or_nothing(postgres_cluster: str) -> None:
    url = await create_database(postgres_cluster)
    await upgrade_async(url)
    engine = create_engine(url, immediate=True)
    wallets = WalletService(engine)
    clock = Clock()
    book = OddsBook(clock=clock)
    book.apply(q(clock, "a", "1.85", "2.10", status=EventStatus.LIVE))
    bets = BetService(
        wallets,
        book,
        RiskBook(RiskLimits(bets_per_day=100_000, pending_exposure=Decimal(10**9))),
        BetGuards(inplay_delay=0),
    )
    users = [f"u{i}" for i in range(20)]
    for user in users:
        await wallets.deposit(user, Decimal("1000.00"), f"d-{user}")
    for n in range(BETS):
        body = {
            "event_id": EVENT.id,
            "market_id": "moneyline",
            "outcome_id": "home" if n % 2 else "away",
            "stake": "1.00",
            "odds": "2.10" if n % 2 == 0 else "1.85",
            "accept": "any",
        }
        await bets.place(Bettor(users[n % len(users)], None, True), f"k{n}", PlaceBet(**body), EVERYTHING)

    killed_midway = False
    for delay in (0.05, 0.1, 0.2, 0.4):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SETTLER,
            url,
            EVENT.id,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert process.stdout is not None
        assert (await process.stdout.readline()).decode().strip() == "settling"
        # The kill is meant to land at an arbitrary moment of the settlement: time is the point.
        await asyncio.sleep(delay)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        settled, results, entries = await counts(wallets)
        # Nothing, or everything: never a market half paid.
        assert (settled, results, entries) in ((0, 0, 0), (BETS, 1, BETS))
        assert await wallets.check() == []
        if settled == 0:
            killed_midway = True
            break
        async with engine.begin() as conn:  # it finished first: undo and try a shorter delay
            row = (await conn.execute(text("SELECT id FROM market_results"))).scalar_one()
        await SettlementService(wallets, KnownMarkets(OddsBook(), AuditRepository(wallets.engine))).rollback(
            "test", row
        )
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM market_results"))
    assert killed_midway, "every settlement finished before the kill; the market was too small to catch it"

    status, reply = await SettlementService(wallets, KnownMarkets(OddsBook(), AuditRepository(wallets.engine))).settle(
        "again", SettleMarket(event_id=EVENT.id, market_id="moneyline", winning_outcome_ids=["home"])
    )
    assert (status, reply["bets"]) == (Made.CREATED, BETS)
    assert await counts(wallets) == (BETS, 1, BETS)
    assert await wallets.check() == []
    await engine.dispose()
