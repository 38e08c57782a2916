"""Betting as every door offers it: placing and reading bets, wallets, deposits, results and their
rollback, and what a bettor was shown before a bet. Scopes are admitted here, once."""

from __future__ import annotations

import uuid
from typing import Any

from auth.access import AccessControl
from auth.principal import Principal
from betting.bet_context import BetContext, BetContexts
from betting.money import amount
from betting.placement import BetService, Bettor
from betting.settling import SettlementService
from betting.wallet import Deposit, Wallet, WalletService
from schema.answers import Made
from schema.bets import Bet
from schema.commands import Deposit as DepositCommand
from schema.commands import PlaceBet, SettleMarket
from schema.paging import Page, Paged

PLACE = "bets:place"
SETTLE = "bets:settle"
WALLET_ADMIN = "wallet:admin"


def bettor_of(principal: Principal) -> Bettor:
    """The token's claims that bet placement and bet reading depend on."""
    return Bettor(principal.sub, principal.region, principal.age_verified, principal.has_scope("admin"))


class Betting:
    def __init__(
        self,
        access: AccessControl,
        bets: BetService,
        wallets: WalletService,
        settlements: SettlementService,
        contexts: BetContexts,
    ):
        self.access = access
        self.service = bets
        self.wallets = wallets
        self.settlements = settlements
        self.contexts = contexts

    async def place(self, principal: Principal, key: str | None, bet: PlaceBet) -> tuple[Made, Bet]:
        """A bet at the price the caller's audience is shown; the key makes retries safe."""
        self.access.admit(principal, PLACE)
        return await self.service.place(bettor_of(principal), key, bet, self.access.visibility(principal))

    async def bets(self, principal: Principal, page: Page) -> Paged[Bet]:
        """The caller's bets, newest first."""
        self.access.admit(principal, PLACE)
        rows, total = await self.service.bets(principal.sub, page.limit, page.offset)
        return Paged(rows, total, page)

    async def bet(self, principal: Principal, bet_id: str) -> Bet:
        """One of the caller's bets (any bet for an admin), with its record."""
        self.access.admit(principal, PLACE)
        return await self.service.bet(bettor_of(principal), bet_id)

    async def report(self, principal: Principal) -> dict[str, Any]:
        """PnL, ROI and win rate of the caller's settled bets."""
        self.access.admit(principal, PLACE)
        return await self.service.report(principal.sub)

    async def wallet(self, principal: Principal) -> Wallet:
        self.access.admit(principal, PLACE)
        return await self.wallets.wallet(principal.sub)

    async def deposit(self, principal: Principal, sub: str, command: DepositCommand) -> Deposit:
        """Credit `sub`'s wallet once per reference (a payment id; without one, every call is a new
        deposit)."""
        self.access.admit(principal, WALLET_ADMIN)
        reference = command.reference or f"deposit:{uuid.uuid4().hex}"
        return await self.wallets.deposit(sub, amount(command.amount), reference)

    async def settle(self, principal: Principal, result: SettleMarket) -> tuple[Made, dict[str, Any]]:
        """Settle every open bet of a market exactly once."""
        self.access.admit(principal, SETTLE)
        return await self.settlements.settle(principal.sub, result)

    async def rollback_result(self, principal: Principal, result_id: str) -> dict[str, Any]:
        self.access.admit(principal, SETTLE)
        return await self.settlements.rollback(principal.sub, result_id)

    async def context(self, principal: Principal, bet_id: str) -> BetContext:
        """What the bettor's audience was shown at placement (a bet outside the caller's sports is
        NOT_FOUND)."""
        self.access.admit(principal, SETTLE)
        return await self.contexts.of(bet_id, self.access.visibility(principal))
