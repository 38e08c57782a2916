"""Engine and sessions; SQLite gets WAL and a busy timeout so readers never block the writer."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def create_engine(url: str, *, immediate: bool = False) -> AsyncEngine:
    """`immediate`: on SQLite, every transaction takes the write lock when it begins (BEGIN
    IMMEDIATE), so a read-then-write transaction cannot be overtaken; the ledger's engine uses it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, json_serializer=_json, json_deserializer=orjson.loads
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            if immediate:
                # The driver's own implicit BEGIN is turned off; we say which BEGIN.
                connection.isolation_level = None

        if immediate:

            @event.listens_for(engine.sync_engine, "begin")
            def _begin(connection: Any) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, json_serializer=_json, json_deserializer=orjson.loads
    )


def _json(value: Any) -> str:
    # orjson: bet contexts and stored answers are written with every bet, and json.dumps showed up;
    # it also writes aware datetimes (match states in the audit) as RFC 3339.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
