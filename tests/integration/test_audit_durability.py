"""Every served delta reaches the audit: bad text is refused at ingest, a row the database still
refuses is dead-lettered alone, and deltas the database could not take yet survive a shutdown or a
`kill -9` in the journal and are written at the next start (real PostgreSQL and SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import httpx
import orjson
from sqlalchemy import text
from websockets.asyncio.client import connect

from feeds.adapters.canonical import parse_update
from feeds.normalize import Normalizer
from gateway.settings import Settings
from store.db import create_engine
from tests.conftest import create_database, gateway_settings, mint, serving
from tests.integration.payloads import batch, update
from tests.support.servers import GatewayProcess
from tests.support.waiting import until

EVENT = "49ers-ravens-2026-03-23"


async def audited_seqs(database_url: str, event_id: str = EVENT) -> set[int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT DISTINCT seq FROM odds_changes WHERE event_id = :e"), {"e": event_id}
            )
            return {int(r[0]) for r in rows}
    finally:
        await engine.dispose()


async def test_text_that_cannot_be_stored_is_refused_alone_at_ingest(postgres_cluster: str, tmp_path: Path) -> None:
    url = await create_database(postgres_cluster)
    state = {"incidents": [{"type": "touchdown", "team": "home", "player": "Brock\x00Purdy"}]}
    updates = [
        update(1.85, 2.10),
        update(1.86, 2.08, home_team="San Francisco\x0049ers"),
        update(1.86, 2.08, home_team="x" * 300),
        update(1.86, 2.08, league="NF\x1bL"),
        update(1.86, 2.08, status="li\u2028ve"),
        {**update(1.86, 2.08), "state": state},
        update(1.90, 2.00, home_team="Cafe\u0301 Olympique", away_team="Real Sociedad", sport="soccer", league="x"),
    ]
    async with serving(gateway_settings(url, audit_journal=tmp_path)) as gateway:
        reply = await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", *updates))
        assert reply.status_code == 200, reply.text
        body = reply.json()
        long_source = await gateway.client.post("/api/v2/ingest", json=batch("s" * 300, update(1.80, 2.20)))
        await gateway.services.audit_writer.flush()
        ready = (await gateway.client.get("/ready")).json()
        events = (await gateway.client.get("/api/v2/odds")).json()["data"]
    assert body["accepted"] == 2
    rejected = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5]
    assert "'home_team' contains the control character U+0000" in rejected[1]
    assert "'home_team' is 300 characters long" in rejected[2]
    assert "league" in rejected[3]
    assert "status" in rejected[4]
    assert "player" in rejected[5]
    assert long_source.status_code == 422
    assert "source" in long_source.json()["rejected"][0]["reason"]
    # Canonical text is NFC: the same name typed with a combining accent is one team.
    assert {e["home_team"] for e in events} == {"San Francisco 49ers", "Café Olympique"}
    assert ready["status"] == "ready"
    assert ready["checks"]["audit"]["backlog"] == 0
    assert await audited_seqs(url) == {1}


async def test_a_row_the_database_refuses_is_dead_lettered_and_the_rest_written(
    postgres_cluster: str, tmp_path: Path
) -> None:
    url = await create_database(postgres_cluster)
    async with serving(gateway_settings(url, audit_journal=tmp_path, audit_batch=50)) as gateway:
        services = gateway.services
        await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", update(1.85, 2.10)))
        # Past every check at the door (as a bug or a future adapter might be): the book serves it,
        # and the database refuses its NUL byte.
        quote = Normalizer(services.normalizer.aliases).normalize(parse_update("vendor_a", update(1.95, 2.00)))
        services.book.apply(replace(quote, source="vendor\x00b"))
        for home in (1.70, 1.71, 1.72):
            await gateway.client.post("/api/v2/ingest", json=batch("vendor_a", update(home, 2.10)))
        await services.audit_writer.flush()
        metrics = (await gateway.client.get("/metrics")).text
        ready = (await gateway.client.get("/ready")).json()
        engine = create_engine(url)
        async with engine.connect() as conn:
            dead = (await conn.execute(text("SELECT event_id, seq, error, row FROM audit_dead_letters"))).all()
        await engine.dispose()
    # Every row of seq 2 names the source with the NUL byte: all of them are dead letters.
    assert await audited_seqs(url) == {1, 3, 4, 5}
    assert len(dead) >= 1
    assert {(d.event_id, d.seq) for d in dead} == {(EVENT, 2)}
    assert all("vendor\\u0000b" in d.row for d in dead)
    assert all(d.error for d in dead)
    assert f"oddsgate_audit_dead_letters {float(len(dead))}" in metrics
    assert ready["status"] == "ready"
    assert ready["checks"]["audit"]["backlog"] == 0


async def test_a_shutdown_the_database_cannot_take_keeps_the_rest_on_disk(sqlite_url: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    settings = gateway_settings(sqlite_url, audit_journal=journal, audit_interval=30.0, audit_shutdown_timeout=1.0)
    async with serving(settings) as gateway:
        for home in (1.80, 1.81, 1.82, 1.83):
            assert (await gateway.client.post("/api/v2/ingest", json=batch("a", update(home, 2.1)))).status_code == 200
        # Another writer holds the database: the gateway cannot write the audit before it stops.
        blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"), timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")
    assert any(journal.rglob("*.jsonl")), "the deltas stay in the journal"
    blocker.rollback()
    blocker.close()
    assert await audited_seqs(sqlite_url) == set()
    async with serving(gateway_settings(sqlite_url, audit_journal=journal)) as gateway:
        await gateway.services.audit_writer.flush()
    assert await audited_seqs(sqlite_url) == {1, 2, 3, 4}
    assert not any(journal.rglob("*.jsonl")), "written segments are removed"


async def test_every_delta_a_client_received_is_audited_after_kill_9(postgres_cluster: str, tmp_path: Path) -> None:
    url = await create_database(postgres_cluster)
    token = mint(Settings())
    gateway = GatewayProcess(
        tmp_path,
        "pricer",
        ODDSGATE_DATABASE_URL=url,
        ODDSGATE_DEMO_FEED="0",
        ODDSGATE_AUDIT_JOURNAL=str(tmp_path / "journal"),
        # Long enough that nothing is written before the kill: what is audited came from the journal.
        ODDSGATE_AUDIT_INTERVAL="60",
        ODDSGATE_DEFAULT_RATE_LIMIT="100000/minute",
    )
    gateway.start()
    received: list[int] = []
    try:
        async with httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}) as client:
            await client.post("/api/v2/ingest", json=batch("a", update(1.50, 2.50)))
            async with connect(gateway.url.replace("http://", "ws://") + "/ws") as socket:
                await socket.send(orjson.dumps({"action": "auth", "token": token}))
                await socket.send(orjson.dumps({"action": "subscribe", "channels": [f"event.{EVENT}"]}))
                for step in range(40):
                    await client.post("/api/v2/ingest", json=batch("a", update(round(1.51 + step / 100, 2), 2.5)))
                async with asyncio.timeout(10):
                    while not received or received[-1] < 41:
                        message = orjson.loads(await socket.recv())
                        if message.get("event") == "odds.updated":
                            received.append(message["seq"])
                gateway.kill()
        assert received == list(range(2, 42))
        assert await audited_seqs(url) == set()
        gateway.start()
        await until(lambda: _covers(url, set(received)), seconds=20)
    finally:
        gateway.stop()


async def _covers(url: str, seqs: set[int]) -> bool:
    return seqs <= await audited_seqs(url)
