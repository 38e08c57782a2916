"""Wallets: deposits (scope `wallet:admin`) and the caller's own balance."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.access import authenticate
from gateway.openapi import Operation, documented
from gateway.responses import json_response, made_response
from gateway.services import Services
from schema.commands import Deposit, command
from schema.responses import Wallet
from usecases.betting import PLACE, WALLET_ADMIN


@documented(
    Operation(
        "Credit a user's wallet, once per reference",
        scopes=WALLET_ADMIN,
        body=Deposit,
        response=Wallet,
        status=201,
        replayed=True,
        errors=("IDEMPOTENCY_MISMATCH", "UNAVAILABLE"),
    )
)
async def deposit(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    deposit = command(Deposit, await request.body())
    made = await services.betting.deposit(principal, request.path_params["sub"], deposit)
    return made_response(made.made, made.wallet.json())


@documented(Operation("The caller's balance: available and locked in open bets", scopes=PLACE, response=Wallet))
async def own_wallet(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    return json_response((await services.betting.wallet(principal)).json())


ROUTES = [
    Route("/api/v2/wallets/{sub:id}/deposit", deposit, methods=["POST"]),
    Route("/api/v2/wallet", own_wallet, methods=["GET"]),
]
