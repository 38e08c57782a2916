"""Audit trail and point-in-time reconstruction, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import store.tables  # noqa: F401  (the tables the code declares, in SQLModel.metadata)
from feeds.consensus import METHOD, METHOD_VERSION
from store.migrate import alembic_config, upgrade_async
from tests.conftest import RunningGateway, create_database, gateway_settings, serving
from tests.integration.payloads import batch, update

EVENT = "49ers-ravens-2026-03-23"


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_gateway(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[RunningGateway]:
    url = (
        sqlite_url if request.param == "sqlite" else await create_database(request.getfixturevalue("postgres_cluster"))
    )
    async with serving(gateway_settings(url)) as running:
        yield running


async def _settle(gateway: RunningGateway) -> datetime:
    await gateway.services.audit_writer.flush()
    moment = datetime.now(UTC)
    await asyncio.sleep(0.01)  # what is ingested next is stamped strictly after `moment`
    return moment


async def test_history_rebuilds_any_past_moment(any_db_gateway: RunningGateway) -> None:
    gateway = any_db_gateway
    client = gateway.client
    before_anything = datetime.now(UTC) - timedelta(seconds=1)
    await client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10, status="scheduled")))
    first = await _settle(gateway)
    await client.post(
        "/api/v2/ingest", json=batch("a", update(1.70, 2.30), update(1.9, 1.9, market="total", line=47.5))
    )
    second = await _settle(gateway)
    await client.post("/api/v2/ingest", json=batch("a", update(1.60, 2.50, status="finished")))
    third = await _settle(gateway)

    async def at(moment: datetime, query: str = "") -> dict[str, object]:
        reply = await client.get(
            f"/api/v2/events/{EVENT}/history",
            params={"at": moment.isoformat(), **dict([query.split("=")] if query else [])},
        )
        assert reply.status_code == 200, reply.text
        body: dict[str, object] = reply.json()
        return body

    then = (await at(first))["data"]
    assert isinstance(then, dict)
    assert then["status"] == "scheduled"
    assert [m["id"] for m in then["markets"]] == ["moneyline"]
    home, away = then["markets"][0]["outcomes"]
    assert (home["odds"]["decimal"], away["odds"]["decimal"]) == (1.85, 2.1)
    assert home["sources"] == {"a": 1.85}
    assert then["markets"][0]["suspended"] is False

    later = (await at(second))["data"]
    assert isinstance(later, dict)
    assert later["status"] == "live"
    assert sorted(m["id"] for m in later["markets"]) == ["moneyline", "total:47.5"]
    moneyline = next(m for m in later["markets"] if m["id"] == "moneyline")
    assert moneyline["outcomes"][0]["odds"]["decimal"] == 1.7

    only_totals = (await at(second, "market=total"))["data"]
    assert isinstance(only_totals, dict)
    assert [m["id"] for m in only_totals["markets"]] == ["total:47.5"]

    final = (await at(third))["data"]
    assert isinstance(final, dict)
    assert final["status"] == "finished"
    assert all(m["suspended"] for m in final["markets"])
    live = (await client.get(f"/api/v2/events/{EVENT}")).json()["data"]
    assert final["markets"] == live["markets"]
    assert final["seq"] == live["seq"]

    missing = await client.get(f"/api/v2/events/{EVENT}/history", params={"at": before_anything.isoformat()})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    bad = await client.get(f"/api/v2/events/{EVENT}/history", params={"at": "yesterday"})
    assert bad.status_code == 422
    assert "'at' must be an ISO 8601 time" in bad.json()["error"]["message"]


async def test_the_audit_row_records_before_after_and_method(any_db_gateway: RunningGateway) -> None:
    gateway = any_db_gateway
    await gateway.client.post("/api/v2/ingest", json=batch("a", update(1.85, 2.10)))
    await gateway.client.post("/api/v2/ingest", json=batch("b", update(1.80, 2.20)))
    await gateway.services.audit_writer.flush()
    engine = gateway.services.engine
    async with engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                "SELECT seq, kind, source, outcome_id, prev_odds, new_odds, sources, source_count, confidence, "
                "method, method_version FROM odds_changes WHERE event_id = 'x' OR event_id = "
                f"'{EVENT}' AND kind = 'outcome' AND outcome_id = 'home' ORDER BY id"
            )
        ).all()
    assert [r.seq for r in rows] == [1, 2]
    assert rows[0].prev_odds is None
    assert str(rows[1].prev_odds) in {"1.85", "1.850000"}
    assert rows[1].source == "b"
    assert rows[1].source_count == 2
    assert rows[1].method == METHOD
    assert rows[1].method_version == METHOD_VERSION
    assert await gateway.services.audit.count(EVENT) >= 5


async def test_migrations_build_an_empty_database_of_either_kind(sqlite_url: str, postgres_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(sqlite_url)).get_current_head()
    for url in (sqlite_url, postgres_url):
        await upgrade_async(url)
        await upgrade_async(url)  # a second run is a no-op
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {
                    table: {c["name"] for c in inspect(sync).get_columns(table)}
                    for table in inspect(sync).get_table_names()
                }
            )
            version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one()
        await engine.dispose()
        # The migrations build exactly the tables the code declares, column for column.
        declared = {name: {c.name for c in table.columns} for name, table in SQLModel.metadata.tables.items()}
        assert {t: c for t, c in columns.items() if t != "alembic_version"} == declared
        assert version == head
