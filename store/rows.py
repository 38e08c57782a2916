"""Writing back rows a transaction read and changed in memory: new ones inserted in one statement,
changed ones updated in one executemany, whatever their number."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def save_rows(
    conn: AsyncConnection,
    table: Table,
    key_columns: Sequence[str],
    rows: Mapping[tuple[Any, ...], Mapping[str, Any]],
    existing: Collection[tuple[Any, ...]],
) -> None:
    """`rows` maps each key (values of `key_columns`) to the columns to write; keys in `existing`
    are updated (those columns only), the others inserted."""
    created = [
        {**dict(zip(key_columns, key, strict=True)), **values} for key, values in rows.items() if key not in existing
    ]
    if created:
        await conn.execute(table.insert(), created)
    changed = [
        {**{f"k_{c}": v for c, v in zip(key_columns, key, strict=True)}, **{f"v_{c}": v for c, v in values.items()}}
        for key, values in rows.items()
        if key in existing
    ]
    if not changed:
        return
    columns = [c for c in changed[0] if c.startswith("v_")]
    if any(len(row) != len(changed[0]) for row in changed):
        raise ValueError("every updated row must set the same columns")
    await conn.execute(
        update(table)
        .where(and_(*(table.c[c] == bindparam(f"k_{c}") for c in key_columns)))
        .values({c[2:]: bindparam(c) for c in columns}),
        changed,
    )
