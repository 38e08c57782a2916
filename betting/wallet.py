"""Wallets over the ledger: deposits, balances, and the ledger's own reconciliation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from betting import ledger
from betting.errors import IdempotencyMismatch, InsufficientFunds
from schema import text
from schema.answers import Made
from store.ledger import LedgerPosting, LedgerRepository, NegativeBalance
from store.transactions import serializable


@dataclass(slots=True, frozen=True)
class Wallet:
    sub: str
    available: Decimal
    locked: Decimal

    def json(self) -> dict[str, object]:
        return {"sub": self.sub, "available": str(self.available), "locked": str(self.locked)}


def to_postings(entry: ledger.Entry) -> list[LedgerPosting]:
    postings = []
    for posting in entry.postings:
        kind = ledger.kind_of(posting.account)
        owner = posting.account.removeprefix("user:").rsplit(":", 1)[0] if posting.account.startswith("user:") else None
        postings.append(LedgerPosting(posting.account, kind.value, owner, posting.amount, kind.may_go_negative))
    return postings


@dataclass(slots=True, frozen=True)
class Deposit:
    wallet: Wallet
    # REPLAYED: the reference was credited before, nothing moved this time.
    made: Made


class WalletService:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.repository = LedgerRepository(engine)

    async def post(self, conn: AsyncConnection, entry: ledger.Entry) -> str:
        """One entry in the caller's transaction; a user's balance that would go negative refuses it."""
        return (await self.post_many(conn, [entry]))[0]

    async def post_many(
        self, conn: AsyncConnection, entries: Sequence[ledger.Entry], read: Mapping[str, Decimal | None] | None = None
    ) -> list[str]:
        """Entries in order, all or none: one that would take a user's balance negative refuses all.
        `read`: the accounts' balances as `repository.read` gave them in this transaction."""
        try:
            return await self.repository.post_many(
                conn, [(e.kind, e.reference, to_postings(e)) for e in entries], datetime.now(UTC), read
            )
        except NegativeBalance as exc:
            raise InsufficientFunds(f"not enough funds: {exc.account} would go to {exc.balance}") from None

    async def deposit(self, sub: str, amount: Decimal, reference: str) -> Deposit:
        """Credit `amount` once per `reference`: the same reference again changes nothing and gives
        the wallet back (REPLAYED); with another user or amount it is IdempotencyMismatch."""
        sub = text.clean(sub, "sub", text.SUB)
        reference = text.clean(reference, "reference", text.KEY)
        entry = ledger.deposit(sub, amount, reference)
        wanted = sorted((p.account, p.amount) for p in entry.postings)

        async def work(conn: AsyncConnection) -> Deposit:
            # Read in the same serializable transaction: two deposits racing on one reference conflict.
            done = await self.repository.postings_of(conn, "deposit", reference)
            if done is not None and done != wanted:
                raise IdempotencyMismatch(f"the reference {reference!r} was used for another deposit")
            if done is None:
                await self.post(conn, entry)
            return Deposit(await self._wallet(conn, sub), Made.REPLAYED if done is not None else Made.CREATED)

        return await serializable(self.engine, work)

    async def wallet(self, sub: str) -> Wallet:
        async with self.engine.connect() as conn:
            return await self._wallet(conn, sub)

    async def check(self) -> list[str]:
        return await self.repository.check()

    async def _wallet(self, conn: AsyncConnection, sub: str) -> Wallet:
        balances = await self.repository.balances(conn, [ledger.available(sub), ledger.locked(sub)])
        return Wallet(sub, balances[ledger.available(sub)], balances[ledger.locked(sub)])
