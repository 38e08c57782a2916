"""GraphQL for betting: thin, over the same services as the REST routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from betting.placement import Bettor
from resolvers.context import GraphQLContext
from resolvers.errors import graphql_errors


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


def bet_gql(body: dict[str, Any]) -> BetGQL:
    accepted = body["accepted_at"]
    return BetGQL(
        bet_id=strawberry.ID(body["bet_id"]),
        status=body["status"],
        event_id=body["event_id"],
        market_id=body["market_id"],
        outcome_id=body["outcome_id"],
        odds=body["odds"],
        stake=body["stake"],
        potential_payout=body["potential_payout"],
        accepted_at=accepted if isinstance(accepted, datetime) else datetime.fromisoformat(accepted),
        result=body.get("result"),
        payout=body.get("payout"),
    )


def _bettor(context: GraphQLContext, scope: str) -> Bettor:
    principal = context.require(scope)
    return Bettor(principal.sub, principal.region, principal.age_verified, principal.has_scope("admin"))


@strawberry.type
class BettingQuery:
    @strawberry.field(description="The caller's bets, newest first.")
    async def bets(self, info: Info[GraphQLContext, None], limit: int = 100, offset: int = 0) -> list[BetGQL]:
        bettor = _bettor(info.context, "bets:place")
        rows, _ = await info.context.betting.bets(bettor.sub, max(1, min(limit, 500)), max(0, offset))
        return [bet_gql(r) for r in rows]

    @strawberry.field(description="PnL, ROI and win rate of the caller's settled bets, by sport and market.")
    async def report(self, info: Info[GraphQLContext, None]) -> JSON:
        bettor = _bettor(info.context, "bets:place")
        return JSON(await info.context.betting.report(bettor.sub))

    @strawberry.field(description="The caller's wallet.")
    async def wallet(self, info: Info[GraphQLContext, None]) -> WalletGQL:
        bettor = _bettor(info.context, "bets:place")
        wallet = await info.context.betting.wallets.wallet(bettor.sub)
        return WalletGQL(sub=wallet.sub, available=str(wallet.available), locked=str(wallet.locked))


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
        bettor = _bettor(context, "bets:place")
        body = {
            "event_id": event_id,
            "market_id": market_id,
            "outcome_id": outcome_id,
            "stake": stake,
            "odds": odds,
            "accept": accept,
        }
        with graphql_errors():
            _, reply = await context.betting.place(bettor, idempotency_key, body, context.visibility)
        return bet_gql(reply)
