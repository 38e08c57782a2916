"""Wallets and the ledger on SQLite and a real PostgreSQL: deposits, balances that never go
negative (the database refuses too), reconciliation, and concurrent writers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from betting import ledger
from betting.errors import InsufficientFunds
from betting.wallet import WalletService
from store.db import create_engine
from store.migrate import upgrade_async
from store.transactions import serializable
from tests.conftest import RunningGateway, create_database, mint


@pytest.fixture(params=["sqlite", "postgres"])
async def wallets(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[WalletService]:
    url = (
        sqlite_url if request.param == "sqlite" else await create_database(request.getfixturevalue("postgres_cluster"))
    )
    await upgrade_async(url)
    engine = create_engine(url, immediate=True)
    yield WalletService(engine)
    await engine.dispose()


async def test_deposits_stakes_and_a_refusal_that_moves_nothing(wallets: WalletService) -> None:
    assert (await wallets.deposit("ann", Decimal("100.00"), "d1")).wallet.available == Decimal("100.00")

    async def stake(amount: str, bet: str) -> None:
        async def work(conn: AsyncConnection) -> None:
            await wallets.post(conn, ledger.stake("ann", Decimal(amount), bet))

        await serializable(wallets.engine, work)

    await stake("60.00", "b1")
    with pytest.raises(InsufficientFunds, match="user:ann:available"):
        await stake("40.01", "b2")
    wallet = await wallets.wallet("ann")
    assert (wallet.available, wallet.locked) == (Decimal("40.00"), Decimal("60.00"))
    assert await wallets.check() == []


async def test_the_database_itself_refuses_a_negative_balance(wallets: WalletService) -> None:
    await wallets.deposit("bob", Decimal("5.00"), "d1")
    with pytest.raises(IntegrityError):
        async with wallets.engine.begin() as conn:
            await conn.execute(text("UPDATE accounts SET balance = '-1.00' WHERE id = 'user:bob:available'"))
    # The house may be owed: its balance goes negative when it pays out more than it took.
    async with wallets.engine.begin() as conn:
        await wallets.post(conn, ledger.stake("bob", Decimal("5.00"), "b1"))
        await wallets.post(conn, ledger.settle("bob", Decimal("5.00"), Decimal("10.00"), "b1"))
    assert (await wallets.wallet("bob")).available == Decimal("10.00")
    assert await wallets.check() == []


async def test_reconciliation_finds_a_tampered_balance(wallets: WalletService) -> None:
    await wallets.deposit("cat", Decimal("10.00"), "d1")
    async with wallets.engine.begin() as conn:
        await conn.execute(text("UPDATE accounts SET balance = '11.00' WHERE id = 'user:cat:available'"))
    problems = await wallets.check()
    assert "account user:cat:available: balance 11.00 but its postings sum to 10.00" in problems
    assert any("money was made or lost" in p for p in problems)


async def test_concurrent_writers_lose_nothing(wallets: WalletService) -> None:
    await asyncio.gather(*(wallets.deposit("dan", Decimal("1.25"), f"d{i}") for i in range(40)))
    assert (await wallets.wallet("dan")).available == Decimal("50.00")
    assert await wallets.check() == []


async def test_deposit_and_wallet_over_rest(gateway: RunningGateway) -> None:
    settings = gateway.app.state.settings
    made = await gateway.client.post("/api/v2/wallets/eve/deposit", json={"amount": "25.50", "reference": "top-up"})
    assert (made.status_code, made.json()) == (201, {"sub": "eve", "available": "25.50", "locked": "0.00"})
    bad = await gateway.client.post("/api/v2/wallets/eve/deposit", json={"amount": 25.5})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "INVALID_REQUEST")
    eve = {"Authorization": f"Bearer {mint(settings, 'bets:place', sub='eve', age_verified=True)}"}
    assert (await gateway.client.get("/api/v2/wallet", headers=eve)).json()["available"] == "25.50"
    refused = await gateway.client.post("/api/v2/wallets/eve/deposit", json={"amount": "1.00"}, headers=eve)
    assert refused.status_code == 403


async def test_a_deposit_is_credited_once_per_reference(gateway: RunningGateway) -> None:
    body = {"amount": "40.00", "reference": "psp-8812"}
    first = await gateway.client.post("/api/v2/wallets/fay/deposit", json=body)
    again = await gateway.client.post("/api/v2/wallets/fay/deposit", json=body)
    other_amount = await gateway.client.post("/api/v2/wallets/fay/deposit", json={**body, "amount": "41.00"})
    other_user = await gateway.client.post("/api/v2/wallets/gus/deposit", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() == {"sub": "fay", "available": "40.00", "locked": "0.00"}
    assert (other_amount.status_code, other_amount.json()["error"]["code"]) == (409, "IDEMPOTENCY_MISMATCH")
    assert (other_user.status_code, other_user.json()["error"]["code"]) == (409, "IDEMPOTENCY_MISMATCH")
    assert (await gateway.services.wallets.wallet("fay")).available == Decimal("40.00")
    assert (await gateway.services.wallets.wallet("gus")).available == Decimal("0.00")
    assert await gateway.services.wallets.check() == []
