"""Shared fixtures: real servers (PostgreSQL, Redis, the gateway under uvicorn) on free ports."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from auth.principal import SCOPES
from gateway.access import token_service
from gateway.app import create_app
from gateway.services import Services
from gateway.serving import uvicorn_options
from gateway.settings import Settings
from tests.support.servers import free_port, postgres_server, redis_server, serve_in_process


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    with postgres_server() as url:
        yield url


async def create_database(cluster_url: str) -> str:
    """A fresh, empty database on the PostgreSQL server at `cluster_url`."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(cluster_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    await admin.dispose()
    return cluster_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def postgres_url(postgres_cluster: str) -> str:
    return await create_database(postgres_cluster)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'oddsgate.db'}"


@dataclass
class RunningGateway:
    url: str
    app: Starlette
    client: httpx.AsyncClient
    token: str = ""

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services


def gateway_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        # Journals live in a subdirectory per database: one root serves every test.
        "audit_journal": Path(tempfile.gettempdir()) / "oddsgate-test-journals",
        "demo_feed": False,
        "audit_interval": 0.05,
        "sweep_interval": 0.1,
        "log_level": "warning",
        # Tests that are not about rate limits must never meet one.
        "default_rate_limit": "1000000/minute",
        "ws_message_rate": "100000/second",
        # Tests that are not about the in-play delay take in-play bets at once.
        "bet_inplay_delay": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def start_gateway(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None], Starlette, str]:
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **uvicorn_options(settings))
    server, task = await serve_in_process(config, "the gateway")
    return server, task, app, f"http://127.0.0.1:{port}"


def mint(settings: Settings, *scopes: str, **claims: Any) -> str:
    """A real signed token for these settings (every scope when none is named)."""
    token, _ = token_service(settings).issue(claims.pop("sub", "tests"), scopes or sorted(SCOPES - {"admin"}), **claims)
    return token


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[RunningGateway]:
    """The gateway under a real uvicorn on a free port; its client carries a token with every scope."""
    server, task, app, url = await start_gateway(settings)
    token = mint(settings)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, timeout=10, headers=headers) as client:
            yield RunningGateway(url, app, client, token)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def gateway(sqlite_url: str) -> AsyncIterator[RunningGateway]:
    """`serving` with SQLite in a temp dir and the demo feed off."""
    async with serving(gateway_settings(sqlite_url)) as running:
        yield running
