"""Bets over REST: placement (scope `bets:place`, age verified), the caller's bets, and exposure."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auth.principal import Principal
from betting.placement import Bettor
from gateway import params
from gateway.access import authorize
from gateway.responses import json_response, page_response
from gateway.services import Services
from schema.errors import InvalidRequest
from schema.render import market_json


def bettor(principal: Principal) -> Bettor:
    return Bettor(principal.sub, principal.region, principal.age_verified, principal.has_scope("admin"))


async def place_bet(request: Request) -> Response:
    principal = await authorize(request, "bets:place")
    services: Services = request.app.state.services
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON") from None
    status, reply = await services.bets.place(
        bettor(principal), request.headers.get("idempotency-key"), body, services.access.visibility(principal)
    )
    return json_response(reply, status_code=status)


async def list_bets(request: Request) -> Response:
    principal = await authorize(request, "bets:place")
    services: Services = request.app.state.services
    limit, offset = params.page(request.query_params)
    rows, total = await services.bets.bets(principal.sub, limit, offset)
    return page_response(rows, limit, offset, total)


async def get_bet(request: Request) -> Response:
    principal = await authorize(request, "bets:place")
    services: Services = request.app.state.services
    return json_response(await services.bets.bet(bettor(principal), request.path_params["bet_id"]))


async def exposure(request: Request) -> Response:
    principal = await authorize(request, "odds:control")
    services: Services = request.app.state.services
    return json_response({"data": await services.reports.exposure(services.access.visibility(principal))})


async def my_report(request: Request) -> Response:
    principal = await authorize(request, "bets:place")
    services: Services = request.app.state.services
    return json_response({"sub": principal.sub, **await services.bets.report(principal.sub)})


async def overall_report(request: Request) -> Response:
    principal = await authorize(request, "odds:control")
    services: Services = request.app.state.services
    return json_response(await services.reports.report(services.access.visibility(principal)))


ROUTES = [
    Route("/api/v2/reports/me", my_report, methods=["GET"]),
    Route("/api/v2/reports", overall_report, methods=["GET"]),
    Route("/api/v2/bets", place_bet, methods=["POST"]),
    Route("/api/v2/bets", list_bets, methods=["GET"]),
    Route("/api/v2/bets/{bet_id:id}", get_bet, methods=["GET"]),
    Route("/api/v2/exposure", exposure, methods=["GET"]),
]


async def settle(request: Request) -> Response:
    principal = await authorize(request, "bets:settle")
    services: Services = request.app.state.services
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON") from None
    status, reply = await services.settlements.settle(principal.sub, body)
    return json_response(reply, status_code=status)


async def rollback_result(request: Request) -> Response:
    principal = await authorize(request, "bets:settle")
    services: Services = request.app.state.services
    return json_response(await services.settlements.rollback(principal.sub, request.path_params["result_id"]))


async def bet_context(request: Request) -> Response:
    principal = await authorize(request, "bets:settle")
    services: Services = request.app.state.services
    found = await services.bet_contexts.of(request.path_params["bet_id"], services.access.visibility(principal))
    return json_response(
        {
            "data": {
                "bet": found.bet,
                "accepted_at": found.accepted_at,
                "audience": found.context.get("audience"),
                "region": found.context.get("region"),
                "age_verified": found.context.get("age_verified"),
                "price": {
                    key: found.context.get(key)
                    for key in ("book_odds", "odds_updated_at", "flags", "source_count", "margin", "seq", "epoch")
                },
                "sources": found.context.get("sources"),
                "overrides": found.context.get("overrides"),
                "held_seconds": found.context.get("held_seconds"),
                "shown": {
                    "seq": found.seq,
                    "market": None if found.shown is None else market_json(found.shown),
                },
            }
        }
    )


ROUTES += [
    Route("/api/v2/bets/{bet_id:id}/context", bet_context, methods=["GET"]),
    Route("/api/v2/results", settle, methods=["POST"]),
    Route("/api/v2/results/{result_id:id}/rollback", rollback_result, methods=["POST"]),
]
