"""Transactions that must see and change a consistent state: SERIALIZABLE on PostgreSQL, retried
on serialization failures and deadlocks with jittered backoff; BEGIN IMMEDIATE on SQLite."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schema.errors import OddsgateError

T = TypeVar("T")
RETRYABLE = frozenset({"40001", "40P01"})


def sqlstate(error: DBAPIError) -> str | None:
    original = error.orig
    for candidate in (original, getattr(original, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


class Contention(OddsgateError):
    """Every attempt met a conflicting transaction: the caller may try again shortly."""

    code = "UNAVAILABLE"


async def serializable(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]], attempts: int = 40) -> T:
    """Run `work` in one transaction, again from the start when PostgreSQL says another transaction
    got in the way; whatever `work` raises otherwise rolls back and propagates."""
    for attempt in range(1, attempts + 1):
        try:
            async with engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execution_options(isolation_level="SERIALIZABLE")
                async with conn.begin():
                    return await work(conn)
        except DBAPIError as exc:
            if sqlstate(exc) not in RETRYABLE:
                raise
            if attempt == attempts:
                raise Contention("too many concurrent changes to the same accounts; try again") from exc
            # Jittered, growing waits: conflicting transactions spread out instead of colliding again.
            await asyncio.sleep(random.uniform(0, min(0.25, 0.002 * 2**attempt)))
    raise AssertionError("unreachable: the last attempt returns or raises")
