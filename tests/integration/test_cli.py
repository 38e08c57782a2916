"""The `oddsgate` command as a user runs it: serve (with the demo feed), replay, migrate."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from tests.support.servers import REPO, gateway_process
from tests.support.waiting import until

pytestmark = pytest.mark.e2e


def oddsgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


def serving(tmp_path: Path, **env: str) -> AbstractContextManager[str]:
    return gateway_process(tmp_path, "served", **env)


def token(tmp_path: Path, *args: str) -> str:
    """`oddsgate token create ...` against the served database, as an operator runs it."""
    env = {**os.environ, "ODDSGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"}
    done = subprocess.run(
        oddsgate("token", "create", *args), cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_serve_with_the_demo_feed_serves_live_odds(tmp_path: Path) -> None:
    with serving(tmp_path, ODDSGATE_DEMO_FEED="1", ODDSGATE_DEMO_RATE="200", ODDSGATE_DEMO_SEED="3") as url:
        headers = {"Authorization": f"Bearer {token(tmp_path, '--sub', 'cli-test', '--scope', 'odds:read')}"}
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            assert (await client.get("/api/v2/odds")).status_code == 401

            async def listed() -> list[dict[str, object]]:
                reply = await client.get("/api/v2/odds?limit=500", headers=headers)
                events: list[dict[str, object]] = reply.json()["data"]
                return events

            async def thirty_events() -> bool:
                return len(await listed()) >= 30

            await until(thirty_events, seconds=20, every=0.2)  # the demo feed brings them in its first seconds
            sports = {e["sport"] for e in await listed()}
            assert {"football", "american_football", "basketball", "tennis", "ice_hockey"} <= sports
            sources = (await client.get("/api/v2/sources", headers=headers)).json()["data"]
            assert len(sources) >= 3
            assert (await client.get("/ready")).status_code == 200


def test_replay_feeds_a_recorded_file_to_a_gateway(tmp_path: Path) -> None:
    with serving(tmp_path, ODDSGATE_DEMO_FEED="0") as url:
        feeder = token(tmp_path, "--sub", "replay", "--scope", "odds:ingest", "--scope", "odds:read")
        done = subprocess.run(
            oddsgate(
                "replay", str(REPO / "examples" / "replay.jsonl"), "--url", url, "--speed", "0", "--token", feeder
            ),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr
        assert "0 failed" in done.stderr
        assert " 0 rejected" in done.stderr
        data = httpx.get(f"{url}/api/v2/odds?limit=500", headers={"Authorization": f"Bearer {feeder}"}).json()
        assert data["pagination"]["total"] >= 30


def test_replay_reports_a_bad_file_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"adapter": "canonical", "payload": {}}\nnot json\n')
    done = subprocess.run(oddsgate("replay", str(bad), "--url", "http://127.0.0.1:9"), capture_output=True, text=True)
    assert done.returncode == 2
    assert "bad.jsonl:2: not JSON" in done.stderr


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "migrated.db"
    env = {**os.environ, "ODDSGATE_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    done = subprocess.run(oddsgate("migrate"), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    tables = set(inspect(create_engine(f"sqlite:///{database}")).get_table_names())
    assert {"events", "odds_changes", "alembic_version"} <= tables


def test_ledger_check_is_clean_then_finds_tampering(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    env = {**os.environ, "ODDSGATE_DATABASE_URL": url}

    async def deposit_then_tamper(tamper: bool) -> None:
        from decimal import Decimal

        from sqlalchemy import text

        from betting.wallet import WalletService
        from store.db import create_engine
        from store.migrate import upgrade_async

        await upgrade_async(url)
        engine = create_engine(url, immediate=True)
        if tamper:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE accounts SET balance = '99.00' WHERE id = 'user:fay:available'"))
        else:
            await WalletService(engine).deposit("fay", Decimal("10.00"), "d1")
        await engine.dispose()

    asyncio.run(deposit_then_tamper(False))
    clean = subprocess.run(oddsgate("ledger", "check"), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert (clean.returncode, clean.stdout.strip()) == (0, "ledger check: clean")
    asyncio.run(deposit_then_tamper(True))
    dirty = subprocess.run(oddsgate("ledger", "check"), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert dirty.returncode == 1
    assert "user:fay:available: balance 99.00 but its postings sum to 10.00" in dirty.stdout
