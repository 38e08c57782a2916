"""A bank-style run on a real PostgreSQL: many clients placing while markets are settled and rolled
back; afterwards no money was made or lost, no balance is negative, no bet was paid twice, and the
ledger reconciles."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import RunningGateway, create_database, gateway_settings, mint, serving
from tests.integration.payloads import batch, update

pytestmark = pytest.mark.e2e
CLIENTS = 50
SECONDS = float(os.environ.get("ODDSGATE_BANK_SECONDS", "60"))
USERS = [f"user{i}" for i in range(100)]
TEAMS = [("Chiefs", "Bills"), ("Packers", "Bears"), ("Cowboys", "Eagles"), ("Jets", "Dolphins"), ("Rams", "Seahawks")]
EVENTS = [f"{home.lower()}-{away.lower()}-2026-03-23" for home, away in TEAMS]


@pytest.fixture
async def bank(postgres_cluster: str) -> AsyncIterator[RunningGateway]:
    url = await create_database(postgres_cluster)
    async with serving(gateway_settings(url, risk_limits={"daily_loss": "1000000", "bets_per_day": 100000})) as gateway:
        await gateway.client.post(
            "/api/v2/ingest", json=batch("a", *(update(1.90, 1.95, home_team=h, away_team=a) for h, a in TEAMS))
        )
        for user in USERS:
            await gateway.client.post(f"/api/v2/wallets/{user}/deposit", json={"amount": "500.00"})
        yield gateway


async def test_fifty_clients_place_and_settle_and_no_money_is_made_or_lost(bank: RunningGateway) -> None:
    settings = bank.app.state.settings
    tokens = {u: mint(settings, "bets:place", sub=u, age_verified=True) for u in USERS}
    deadline = time.monotonic() + SECONDS
    counts = {"placed": 0, "refused": 0, "settled": 0, "rolled_back": 0}

    async def punter(index: int) -> None:
        rng = random.Random(index)
        async with httpx.AsyncClient(base_url=bank.url, timeout=120) as client:
            while time.monotonic() < deadline:
                user = rng.choice(USERS)
                body = {
                    "event_id": rng.choice(EVENTS),
                    "market_id": "moneyline",
                    "outcome_id": rng.choice(["home", "away"]),
                    "stake": f"{rng.randint(1, 2000) / 100:.2f}",
                    "odds": 1.5,
                    "accept": "any",
                }
                headers = {"Authorization": f"Bearer {tokens[user]}", "Idempotency-Key": f"{index}-{rng.random()}"}
                reply = await client.post("/api/v2/bets", json=body, headers=headers)
                # 503 is "too much contention, try again": a refusal that moves nothing, like the others.
                assert reply.status_code < 500 or reply.json()["error"]["code"] == "UNAVAILABLE", reply.text
                counts["placed" if reply.status_code == 201 else "refused"] += 1

    async def settler() -> None:
        rng = random.Random(99)
        async with httpx.AsyncClient(base_url=bank.url, timeout=120, headers=bank.client.headers) as client:
            while time.monotonic() < deadline:
                event = rng.choice(EVENTS)
                result = {
                    "event_id": event,
                    "market_id": "moneyline",
                    "winning_outcome_ids": [rng.choice(["home", "away"])],
                }
                replies = await asyncio.gather(*(client.post("/api/v2/results", json=result) for _ in range(2)))
                assert all(r.status_code < 500 or r.status_code == 503 for r in replies), [r.text for r in replies]
                created = [r.json() for r in replies if r.status_code == 201]
                counts["settled"] += len(created)
                # Settled markets stay settled a while, with bets arriving on them, before the rollback.
                await asyncio.sleep(0.2)
                for made in created:
                    while True:  # a rollback that met contention is tried again: it must happen
                        undone = await client.post(f"/api/v2/results/{made['id']}/rollback")
                        if undone.status_code != 503:
                            break
                    counts["rolled_back"] += undone.status_code == 200

    await asyncio.gather(*(punter(i) for i in range(CLIENTS - 1)), settler())
    assert counts["placed"] > 0
    assert counts["settled"] > 0

    assert await bank.services.wallets.check() == []
    async with bank.services.wallets.engine.connect() as conn:
        balances = {
            row.id: Decimal(str(row.balance)) for row in await conn.execute(text("SELECT id, balance FROM accounts"))
        }
        paid_twice = (
            await conn.execute(
                text(
                    "SELECT reference FROM ledger_entries GROUP BY reference "
                    "HAVING SUM(CASE kind WHEN 'settle' THEN 1 WHEN 'reversal' THEN -1 ELSE 0 END) > 1"
                )
            )
        ).all()
    users = sum(v for k, v in balances.items() if k.startswith("user:"))
    assert users + balances.get("house", Decimal(0)) == Decimal("500.00") * len(USERS)
    assert all(v >= 0 for k, v in balances.items() if k.startswith("user:"))
    assert paid_twice == []
