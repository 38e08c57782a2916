"""A hypothesis state machine over the real ledger (SQLite): deposit, place, place again with the
same key, settle, settle twice, roll back; an in-memory model of every balance is checked, and
funds are conserved, after every step."""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from betting.acceptance import BetGuards
from betting.catalog import KnownMarkets
from betting.errors import IdempotencyMismatch, InsufficientFunds
from betting.placement import BetService, Bettor
from betting.risk import RiskBook, RiskLimits
from betting.settlement import Result, payout
from betting.settling import AlreadySettled, SettlementService
from betting.wallet import WalletService
from feeds.book import OddsBook
from schema.answers import Made
from schema.commands import PlaceBet, SettleMarket
from schema.errors import OddsgateError
from schema.model import EventStatus
from schema.visibility import EVERYTHING
from store.audit import AuditRepository
from store.db import create_engine
from store.migrate import upgrade_async
from tests.unit.test_book import EVENT, Clock, q

USERS = ("ann", "bob")
ODDS = {"home": Decimal("1.85"), "away": Decimal("2.10")}


class Ledger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{Path(self.directory.name) / 'ledger.db'}"
        self.run(upgrade_async(url))
        self.engine = create_engine(url, immediate=True)
        self.wallets = WalletService(self.engine)
        clock = Clock()
        book = OddsBook(clock=clock)
        book.apply(q(clock, "a", "1.85", "2.10", status=EventStatus.LIVE))
        self.bets = BetService(
            self.wallets, book, RiskBook(RiskLimits(max_stake=Decimal("10000"))), BetGuards(inplay_delay=0)
        )
        self.settling = SettlementService(self.wallets, KnownMarkets(book, AuditRepository(self.engine)))
        self.available = dict.fromkeys(USERS, Decimal("0.00"))
        self.locked = dict.fromkeys(USERS, Decimal("0.00"))
        self.house = Decimal("0.00")
        self.deposited = Decimal("0.00")
        self.references: dict[str, tuple[str, Decimal]] = {}
        self.keys: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        self.open: list[tuple[str, str, Decimal]] = []  # (user, outcome, stake) of open bets
        self.result: tuple[str, dict[str, Any]] | None = None  # (id, the bets it settled)

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()
        self.directory.cleanup()

    @rule(user=st.sampled_from(USERS), cents=st.integers(1, 50_000))
    def deposit(self, user: str, cents: int) -> None:
        amount = Decimal(cents) / 100
        reference = f"d{len(self.references)}"
        self.run(self.wallets.deposit(user, amount, reference))
        self.references[reference] = (user, amount)
        self.available[user] += amount
        self.deposited += amount

    @precondition(lambda self: bool(self.references))
    @rule(data=st.data())
    def deposit_again(self, data: st.DataObject) -> None:
        """A deposit sent twice with its reference is credited once."""
        reference = data.draw(st.sampled_from(sorted(self.references)))
        user, amount = self.references[reference]
        again = self.run(self.wallets.deposit(user, amount, reference))
        assert again.made is Made.REPLAYED

    @precondition(lambda self: self.result is None)
    @rule(
        user=st.sampled_from(USERS),
        key=st.sampled_from(["k1", "k2", "k3"]),
        cents=st.integers(1, 20_000),
        outcome=st.sampled_from(["home", "away"]),
    )
    def place(self, user: str, key: str, cents: int, outcome: str) -> None:
        stake = Decimal(cents) / 100
        body = {
            "event_id": EVENT.id,
            "market_id": "moneyline",
            "outcome_id": outcome,
            "stake": str(stake),
            "odds": str(ODDS[outcome]),
            "accept": "exact",
        }
        earlier = self.keys.get((user, key))
        status: Made | None
        try:
            status, reply = self.run(self.bets.place(Bettor(user, None, True), key, PlaceBet(**body), EVERYTHING))
        except IdempotencyMismatch:
            assert earlier is not None
            assert earlier[0] != body
            return
        except OddsgateError as exc:
            status, reply = None, {"refused": exc.code}
        if status is None:
            if earlier is not None:
                # A key first answered with a refusal keeps that answer, whatever the funds now.
                assert (earlier[0], earlier[1]) == (body, reply)
                return
            assert reply == {"refused": "INSUFFICIENT_FUNDS"}
            assert stake > self.available[user]
            self.keys[(user, key)] = (body, reply)
            return
        if earlier is not None:
            assert earlier[0] == body
            assert (status, reply) == (Made.REPLAYED, earlier[1])  # the first answer again, nothing moved
            return
        assert status is Made.CREATED
        self.keys[(user, key)] = (body, reply)
        self.available[user] -= stake
        self.locked[user] += stake
        self.open.append((user, outcome, stake))

    @rule(winner=st.sampled_from(["home", "away", "void"]), times=st.integers(1, 2))
    def settle(self, winner: str, times: int) -> None:
        body: dict[str, Any] = {"event_id": EVENT.id, "market_id": "moneyline", "winning_outcome_ids": [winner]}
        if winner == "void":
            body = {"event_id": EVENT.id, "market_id": "moneyline", "void": True}
        for attempt in range(times):
            try:
                status, reply = self.run(self.settling.settle("trader", SettleMarket(**body)))
            except AlreadySettled:
                assert self.result is not None  # settled already, with other outcomes
                return
            if self.result is not None:
                assert (status, reply["id"]) == (Made.REPLAYED, self.result[0])
                return
            assert (status, attempt) == (Made.CREATED, 0)
            for user, outcome, stake in self.open:
                result = Result.VOID if winner == "void" else Result.WON if outcome == winner else Result.LOST
                paid = payout(stake, ODDS[outcome], result)
                self.locked[user] -= stake
                self.available[user] += paid
                self.house += stake - paid
            self.result = (reply["id"], {"bets": list(self.open)})
            self.open = []

    @precondition(lambda self: self.result is not None)
    @rule()
    def roll_back(self) -> None:
        assert self.result is not None
        result_id, settled = self.result
        try:
            self.run(self.settling.rollback("trader", result_id))
        except InsufficientFunds:
            return  # a winner already staked the winnings again: the rollback is refused whole
        winner_of = self.run(self._outcomes(result_id))
        for user, outcome, stake in settled["bets"]:
            result = Result(winner_of[outcome])
            paid = payout(stake, ODDS[outcome], result)
            self.locked[user] += stake
            self.available[user] -= paid
            self.house -= stake - paid
        self.open = list(settled["bets"])
        self.result = None

    async def _outcomes(self, result_id: str) -> dict[str, str]:
        async with self.engine.connect() as conn:
            row = await self.settling.results.get(conn, result_id)
        assert row is not None
        return dict(row["outcomes"])

    @invariant()
    def conserved(self) -> None:
        assert self.run(self.wallets.check()) == []
        for user in USERS:
            wallet = self.run(self.wallets.wallet(user))
            assert (wallet.available, wallet.locked) == (self.available[user], self.locked[user])
        total = sum(self.available.values()) + sum(self.locked.values()) + self.house
        assert total == self.deposited  # money only moves; the world gave what the rest holds


Ledger.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
TestLedger = Ledger.TestCase
