"""GraphQL for betting: thin, over the same use-cases as the REST routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from betting.wallet import Wallet
from resolvers.context import GraphQLContext
from schema.bets import Bet
from schema.commands import Deposit, PlaceBet, SettleMarket, command
from schema.paging import DEFAULT_PAGE, Page
from schema.render import plain_json


@strawberry.type(name="Bet")
class BetGQL:
    bet_id: strawberry.ID
    status: str
    event_id: str
    market_id: str
    outcome_id: str
    odds: float
    stake: str
    potential_payout: str
    accepted_at: datetime
    result: str | None
    payout: str | None


@strawberry.type(name="Wallet")
class WalletGQL:
    sub: str
    available: str
    locked: str


@strawberry.type(name="SettlementResult", description="A market's result and what settling it paid.")
class ResultGQL:
    id: strawberry.ID
    event_id: str
    market_id: str
    outcomes: JSON
    dead_heat_factor: str | None
    bets: int
    paid: str
    created_at: datetime
    rolled_back_at: datetime | None


def bet_gql(bet: Bet) -> BetGQL:
    return BetGQL(
        bet_id=strawberry.ID(bet.bet_id),
        status=bet.status,
        event_id=bet.event_id,
        market_id=bet.market_id,
        outcome_id=bet.outcome_id,
        odds=float(bet.odds),
        stake=str(bet.stake),
        potential_payout=str(bet.potential_payout),
        accepted_at=bet.accepted_at,
        result=bet.result,
        payout=None if bet.payout is None else str(bet.payout),
    )


def wallet_gql(wallet: Wallet) -> WalletGQL:
    return WalletGQL(sub=wallet.sub, available=str(wallet.available), locked=str(wallet.locked))


def result_gql(body: dict[str, Any]) -> ResultGQL:
    rolled_back = body.get("rolled_back_at")
    return ResultGQL(
        id=strawberry.ID(body["id"]),
        event_id=body["event_id"],
        market_id=body["market_id"],
        outcomes=JSON(body["outcomes"]),
        dead_heat_factor=body["dead_heat_factor"],
        bets=body["bets"],
        paid=body["paid"],
        created_at=_time(body["created_at"]),
        rolled_back_at=None if rolled_back is None else _time(rolled_back),
    )


def _time(value: datetime | str) -> datetime:
    # A replayed answer was stored as JSON, its times as text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@strawberry.type
class BettingQuery:
    @strawberry.field(description="The caller's bets, newest first (scope bets:place).")
    async def bets(self, info: Info[GraphQLContext, None], limit: int = DEFAULT_PAGE, offset: int = 0) -> list[BetGQL]:
        context = info.context
        found = await context.betting.bets(context.caller(), Page(limit, offset))
        return [bet_gql(r) for r in found.items]

    @strawberry.field(description="One of the caller's bets (any bet for an admin).")
    async def bet(self, info: Info[GraphQLContext, None], bet_id: strawberry.ID) -> BetGQL:
        context = info.context
        return bet_gql(await context.betting.bet(context.caller(), str(bet_id)))

    @strawberry.field(description="PnL, ROI and win rate of the caller's settled bets, by sport and market.")
    async def report(self, info: Info[GraphQLContext, None]) -> JSON:
        context = info.context
        return JSON(plain_json(await context.betting.report(context.caller())))

    @strawberry.field(description="The caller's wallet.")
    async def wallet(self, info: Info[GraphQLContext, None]) -> WalletGQL:
        context = info.context
        return wallet_gql(await context.betting.wallet(context.caller()))

    @strawberry.field(
        description="What a bettor's audience was shown at placement, as GET /api/v2/bets/{id}/context "
        "(scope bets:settle)."
    )
    async def bet_context(self, info: Info[GraphQLContext, None], bet_id: strawberry.ID) -> JSON:
        context = info.context
        found = await context.betting.context(context.caller(), str(bet_id))
        return JSON(plain_json(found.json()))


@strawberry.input(description="Exactly one of winningOutcomeIds, outcomes or void.")
class ResultInput:
    event_id: str
    market_id: str
    winning_outcome_ids: list[str] | None = None
    outcomes: JSON | None = None
    void: bool | None = None
    dead_heat_factor: str | None = None


@strawberry.type
class BettingMutation:
    @strawberry.mutation(description="Place a bet, as POST /api/v2/bets; the key makes retries safe.")
    async def place_bet(
        self,
        info: Info[GraphQLContext, None],
        idempotency_key: str,
        event_id: str,
        market_id: str,
        outcome_id: str,
        stake: str,
        odds: float,
        accept: str = "exact",
    ) -> BetGQL:
        context = info.context
        body = {
            "event_id": event_id,
            "market_id": market_id,
            "outcome_id": outcome_id,
            "stake": stake,
            "odds": odds,
            "accept": accept,
        }
        _, reply = await context.betting.place(context.caller(), idempotency_key, command(PlaceBet, body))
        return bet_gql(reply)

    @strawberry.mutation(description="Settle a market's open bets exactly once, as POST /api/v2/results.")
    async def settle_market(self, info: Info[GraphQLContext, None], result: ResultInput) -> ResultGQL:
        context = info.context
        body = {
            key: value
            for key, value in (
                ("event_id", result.event_id),
                ("market_id", result.market_id),
                ("winning_outcome_ids", result.winning_outcome_ids),
                ("outcomes", result.outcomes),
                ("void", result.void),
                ("dead_heat_factor", result.dead_heat_factor),
            )
            if value is not None
        }
        _, reply = await context.betting.settle(context.caller(), command(SettleMarket, body))
        return result_gql(reply)

    @strawberry.mutation(description="Undo a result: every bet it settled is reopened and its payout taken back.")
    async def rollback_result(self, info: Info[GraphQLContext, None], id: strawberry.ID) -> ResultGQL:
        context = info.context
        return result_gql(await context.betting.rollback_result(context.caller(), str(id)))

    @strawberry.mutation(description="Credit a wallet once per reference (scope wallet:admin).")
    async def deposit(
        self, info: Info[GraphQLContext, None], sub: str, amount: str, reference: str | None = None
    ) -> WalletGQL:
        context = info.context
        deposit = command(Deposit, {"amount": amount, "reference": reference})
        made = await context.betting.deposit(context.caller(), sub, deposit)
        return wallet_gql(made.wallet)
