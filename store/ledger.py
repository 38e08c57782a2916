"""The ledger's tables: accounts with their balances, entries, postings. Called inside the caller's
transaction (see `store.transactions`), so postings and balances change together or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.rows import save_rows
from store.tables import AccountRow, LedgerEntryRow, PostingRow
from store.types import cents

_ACCOUNTS = AccountRow.__table__  # type: ignore[attr-defined]
_ENTRIES = LedgerEntryRow.__table__  # type: ignore[attr-defined]
_POSTINGS = PostingRow.__table__  # type: ignore[attr-defined]


class NegativeBalance(Exception):
    def __init__(self, account: str, balance: Decimal):
        super().__init__(f"account {account} would go to {balance}")
        self.account = account
        self.balance = balance


@dataclass(slots=True, frozen=True)
class LedgerPosting:
    account: str
    kind: str
    owner: str | None
    amount: Decimal
    # The house and the outside world may go negative; users' accounts may not.
    may_go_negative: bool = False


class LedgerRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def post(
        self, conn: AsyncConnection, kind: str, reference: str, postings: Sequence[LedgerPosting], at: datetime
    ) -> str:
        """Record an entry and move the balances; raises NegativeBalance and writes nothing usable
        (the caller's transaction rolls back)."""
        return (await self.post_many(conn, [(kind, reference, postings)], at))[0]

    async def post_many(
        self,
        conn: AsyncConnection,
        entries: Sequence[tuple[str, str, Sequence[LedgerPosting]]],
        at: datetime,
        read: Mapping[str, Decimal | None] | None = None,
    ) -> list[str]:
        """Several entries, applied in order, in a fixed number of statements whatever their count.

        New balances are computed here from the ones read in the caller's transaction (exactly: SQLite
        would add decimal text as floats) and written back; raises NegativeBalance before writing.
        `read`: what `read` returned for these accounts earlier in the same transaction."""
        if not entries:
            return []
        kinds = {p.account: p for _, _, postings in entries for p in postings}
        if read is None or not kinds.keys() <= read.keys():
            read = await self.read(conn, kinds)
        existing = {account: balance for account, balance in read.items() if balance is not None}
        balances = dict(existing)
        ids: list[str] = []
        entry_rows: list[dict[str, Any]] = []
        posting_rows: list[dict[str, Any]] = []
        for kind, reference, postings in entries:
            entry_id = uuid.uuid4().hex
            ids.append(entry_id)
            entry_rows.append({"id": entry_id, "kind": kind, "reference": reference, "created_at": at})
            for posting in postings:
                balance = balances.get(posting.account, Decimal("0.00")) + posting.amount
                if balance < 0 and not posting.may_go_negative:
                    raise NegativeBalance(posting.account, balance)
                balances[posting.account] = balance
                posting_rows.append(
                    {"entry_id": entry_id, "account_id": posting.account, "amount": posting.amount, "created_at": at}
                )
        await conn.execute(_ENTRIES.insert(), entry_rows)
        await conn.execute(_POSTINGS.insert(), posting_rows)
        await save_rows(
            conn,
            _ACCOUNTS,
            ("id",),
            {
                (a,): {"balance": b, "updated_at": at}
                if a in existing
                else {"kind": kinds[a].kind, "owner": kinds[a].owner, "balance": b, "updated_at": at}
                for a, b in balances.items()
                if existing.get(a) != b
            },
            {(a,) for a in existing},
        )
        return ids

    async def postings_of(self, conn: AsyncConnection, kind: str, reference: str) -> list[tuple[str, Decimal]] | None:
        """The (account, amount) postings of the first entry of this kind and reference, or None."""
        entry = (
            await conn.execute(
                select(_ENTRIES.c.id)
                .where(_ENTRIES.c.kind == kind, _ENTRIES.c.reference == reference)
                .order_by(_ENTRIES.c.created_at)
                .limit(1)
            )
        ).scalar_one_or_none()
        if entry is None:
            return None
        rows = await conn.execute(
            select(_POSTINGS.c.account_id, _POSTINGS.c.amount).where(_POSTINGS.c.entry_id == entry)
        )
        return sorted((row.account_id, cents(row.amount)) for row in rows)

    async def read(self, conn: AsyncConnection, accounts: Collection[str]) -> dict[str, Decimal | None]:
        """Each account's balance, None for one that does not exist yet."""
        rows = await conn.execute(select(_ACCOUNTS.c.id, _ACCOUNTS.c.balance).where(_ACCOUNTS.c.id.in_(list(accounts))))
        found = {row.id: cents(row.balance) for row in rows}
        return {account: found.get(account) for account in accounts}

    async def balances(self, conn: AsyncConnection, accounts: Sequence[str]) -> dict[str, Decimal]:
        return {a: Decimal("0.00") if b is None else b for a, b in (await self.read(conn, accounts)).items()}

    async def check(self) -> list[str]:
        """Every way the ledger is not sound, in words; empty when it is."""
        problems: list[str] = []
        async with self.engine.connect() as conn:
            # Summed here, exactly: SQLite keeps decimals as text, and SUM would add them as floats.
            sums = await _sums(conn, _POSTINGS.c.account_id)
            accounts = {row.id: (row.kind, cents(row.balance)) for row in await conn.execute(select(_ACCOUNTS))}
            entries = await _sums(conn, _POSTINGS.c.entry_id)
        for account, (kind, balance) in sorted(accounts.items()):
            posted = sums.get(account, Decimal("0.00"))
            if balance != posted:
                problems.append(f"account {account}: balance {balance} but its postings sum to {posted}")
            if balance < 0 and kind not in ("house", "world"):
                problems.append(f"account {account}: negative balance {balance}")
        for account in sorted(set(sums) - set(accounts)):
            problems.append(f"postings name an account that does not exist: {account}")
        for entry_id, total in sorted(entries.items()):
            if total != 0:
                problems.append(f"entry {entry_id} does not balance: its postings sum to {total}")
        total = sum((balance for _, balance in accounts.values()), Decimal("0.00"))
        if total != 0:
            problems.append(f"all accounts together hold {total}, not 0: money was made or lost")
        return problems


async def _sums(conn: AsyncConnection, key: Any) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for row in await conn.execute(select(key, _POSTINGS.c.amount)):
        sums[row[0]] = sums.get(row[0], Decimal("0.00")) + cents(row[1])
    return sums
