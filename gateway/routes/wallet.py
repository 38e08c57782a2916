"""Wallets: deposits (scope `wallet:admin`) and the caller's own balance."""

from __future__ import annotations

import uuid

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from betting.money import amount
from gateway.access import authorize
from gateway.responses import json_response
from gateway.services import Services
from schema.errors import InvalidRequest


async def deposit(request: Request) -> Response:
    await authorize(request, "wallet:admin")
    services: Services = request.app.state.services
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidRequest('the body is JSON: {"amount": "100.00", "reference"?: "..."}') from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body is a JSON object with 'amount'")
    reference = body.get("reference") or f"deposit:{uuid.uuid4().hex}"
    if not isinstance(reference, str):
        raise InvalidRequest("'reference' is a string that names the deposit once (a payment id)")
    made = await services.wallets.deposit(request.path_params["sub"], amount(body.get("amount")), reference)
    return json_response(made.wallet.json(), status_code=200 if made.replayed else 201)


async def own_wallet(request: Request) -> Response:
    principal = await authorize(request, "bets:place")
    services: Services = request.app.state.services
    return json_response((await services.wallets.wallet(principal.sub)).json())


ROUTES = [
    Route("/api/v2/wallets/{sub:id}/deposit", deposit, methods=["POST"]),
    Route("/api/v2/wallet", own_wallet, methods=["GET"]),
]
