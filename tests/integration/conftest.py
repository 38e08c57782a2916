"""A book to bet on, shared by the betting tests: one live NFL moneyline and 100.00 in ann's wallet,
on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningGateway, create_database, gateway_settings, mint, serving
from tests.integration.payloads import batch, update


@pytest.fixture(params=["sqlite", "postgres"])
async def book(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[RunningGateway]:
    url = (
        sqlite_url if request.param == "sqlite" else await create_database(request.getfixturevalue("postgres_cluster"))
    )
    async with serving(gateway_settings(url)) as gateway:
        assert (await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10)))).status_code == 200
        deposit = await gateway.client.post("/api/v2/wallets/ann/deposit", json={"amount": "100.00"})
        assert deposit.status_code == 201
        yield gateway


def punter(gateway: RunningGateway, **claims: Any) -> httpx.AsyncClient:
    """A client for a bettor (ann, age verified, unless the claims say otherwise)."""
    claims.setdefault("age_verified", True)
    token = mint(gateway.app.state.settings, "bets:place", sub=claims.pop("sub", "ann"), **claims)
    return httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
