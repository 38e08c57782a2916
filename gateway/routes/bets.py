"""Bets over REST: placement, the caller's bets and report, the house's exposure and report,
results and their rollback, and what a bettor was shown."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import params
from gateway.access import authenticate
from gateway.openapi import PAGE, Operation, documented, header
from gateway.responses import json_response, made_response, paged_response
from gateway.services import Services
from schema.commands import PlaceBet, SettleMarket, command
from schema.paging import Paged
from schema.responses import Bet, BetContextReply, BetPage, BetWithContext, ExposureList, OwnReport, Report, Settlement
from usecases.betting import PLACE, SETTLE
from usecases.operators import CONTROL


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@documented(
    Operation(
        "Place a bet at the price the caller is shown",
        scopes=PLACE,
        body=PlaceBet,
        response=Bet,
        status=201,
        replayed=True,
        headers=(header("Idempotency-Key", "the same key and body answer the same bet (or refusal)", max_length=200),),
        errors=(
            "INVALID_ODDS",
            "NOT_FOUND",
            "PRICE_CHANGED",
            "MARKET_SUSPENDED",
            "MARKET_CLOSED",
            "PRICE_UNRELIABLE",
            "INSUFFICIENT_FUNDS",
            "RISK_LIMIT",
            "IDEMPOTENCY_MISMATCH",
            "UNAVAILABLE",
        ),
    )
)
async def place_bet(request: Request) -> Response:
    principal = await authenticate(request)
    made, reply = await _services(request).betting.place(
        principal, request.headers.get("idempotency-key"), command(PlaceBet, await request.body())
    )
    return made_response(made, reply.json())


@documented(Operation("The caller's bets, newest first", scopes=PLACE, query=PAGE, response=BetPage))
async def list_bets(request: Request) -> Response:
    principal = await authenticate(request)
    found = await _services(request).betting.bets(principal, params.page(request.query_params))
    return paged_response(Paged([bet.json() for bet in found.items], found.total, found.page))


@documented(Operation("One of the caller's bets (any bet for an admin)", scopes=PLACE, response=BetWithContext))
async def get_bet(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response((await _services(request).betting.bet(principal, request.path_params["bet_id"])).json())


@documented(Operation("The house's stakes and liability per outcome", scopes=CONTROL, response=ExposureList))
async def exposure(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response({"data": await _services(request).operators.exposure(principal)})


@documented(Operation("PnL, ROI and win rate of the caller's settled bets", scopes=PLACE, response=OwnReport))
async def my_report(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response({"sub": principal.sub, **await _services(request).betting.report(principal)})


@documented(Operation("Everyone's settled bets, by sport and market", scopes=CONTROL, response=Report))
async def overall_report(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(await _services(request).operators.book_report(principal))


@documented(
    Operation(
        "Settle every open bet of a market, exactly once",
        scopes=SETTLE,
        body=SettleMarket,
        response=Settlement,
        status=201,
        replayed=True,
        errors=("NOT_FOUND", "ALREADY_SETTLED", "UNAVAILABLE"),
    )
)
async def settle(request: Request) -> Response:
    principal = await authenticate(request)
    made, reply = await _services(request).betting.settle(principal, command(SettleMarket, await request.body()))
    return made_response(made, reply)


@documented(
    Operation(
        "Undo a result: its bets open again, its payouts reversed",
        scopes=SETTLE,
        response=Settlement,
        errors=("NOT_SETTLED", "INSUFFICIENT_FUNDS", "UNAVAILABLE"),
    )
)
async def rollback_result(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(await _services(request).betting.rollback_result(principal, request.path_params["result_id"]))


@documented(Operation("What the bettor's audience was shown at placement", scopes=SETTLE, response=BetContextReply))
async def bet_context(request: Request) -> Response:
    principal = await authenticate(request)
    found = await _services(request).betting.context(principal, request.path_params["bet_id"])
    return json_response({"data": found.json()})


ROUTES = [
    Route("/api/v2/reports/me", my_report, methods=["GET"]),
    Route("/api/v2/reports", overall_report, methods=["GET"]),
    Route("/api/v2/bets", place_bet, methods=["POST"]),
    Route("/api/v2/bets", list_bets, methods=["GET"]),
    Route("/api/v2/bets/{bet_id:id}", get_bet, methods=["GET"]),
    Route("/api/v2/bets/{bet_id:id}/context", bet_context, methods=["GET"]),
    Route("/api/v2/exposure", exposure, methods=["GET"]),
    Route("/api/v2/results", settle, methods=["POST"]),
    Route("/api/v2/results/{result_id:id}/rollback", rollback_result, methods=["POST"]),
]
