"""The control layer over REST: overrides, their history, rollback and alerts (scope
`odds:control`); webhooks (`webhooks:manage` or `odds:control`)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auth.principal import MANAGE_WEBHOOKS
from gateway import params
from gateway.access import authorize
from gateway.responses import json_response, page_response
from gateway.services import Services
from schema.errors import InvalidRequest


async def _body(request: Request) -> object:
    raw = await request.body()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON") from None


async def create_override(request: Request) -> Response:
    principal = await authorize(request, "odds:control")
    services: Services = request.app.state.services
    record = await services.control.create(principal, await _body(request))
    return json_response(record, status_code=201)


async def rollback_override(request: Request) -> Response:
    principal = await authorize(request, "odds:control")
    services: Services = request.app.state.services
    record = await services.control.rollback(principal, request.path_params["override_id"], await _body(request))
    return json_response(record, status_code=201)


async def list_overrides(request: Request) -> Response:
    principal = await authorize(request, "odds:control")
    services: Services = request.app.state.services
    q = request.query_params
    limit, offset = params.page(q)
    sport = params.text(q, "sport")
    rows, total = await services.control.history(
        principal,
        active=params.boolean(q, "active"),
        sport=services.normalizer.sport_and_league(sport, None)[0] if sport else None,
        event_id=params.text(q, "event_id"),
        actor=params.text(q, "actor"),
        action=params.text(q, "action"),
        since=params.timestamp(q, "since"),
        limit=limit,
        offset=offset,
    )
    return page_response(rows, limit, offset, total)


async def list_alerts(request: Request) -> Response:
    principal = await authorize(request, "odds:control")
    services: Services = request.app.state.services
    q = request.query_params
    limit, offset = params.page(q)
    rows, total = await services.alerts.list(
        services.access.visibility(principal),
        kind=params.text(q, "kind"),
        event_id=params.text(q, "event_id"),
        since=params.timestamp(q, "since"),
        limit=limit,
        offset=offset,
    )
    return page_response(rows, limit, offset, total)


async def register_webhook(request: Request) -> Response:
    principal = await authorize(request, MANAGE_WEBHOOKS)
    services: Services = request.app.state.services
    return json_response(await services.webhooks.register(principal, await _body(request)), status_code=201)


async def list_webhooks(request: Request) -> Response:
    principal = await authorize(request, MANAGE_WEBHOOKS)
    services: Services = request.app.state.services
    return json_response({"data": await services.webhooks.registered(principal)})


async def remove_webhook(request: Request) -> Response:
    principal = await authorize(request, MANAGE_WEBHOOKS)
    services: Services = request.app.state.services
    await services.webhooks.remove(principal, request.path_params["webhook_id"])
    return Response(status_code=204)


async def list_deliveries(request: Request) -> Response:
    principal = await authorize(request, MANAGE_WEBHOOKS)
    services: Services = request.app.state.services
    q = request.query_params
    limit, offset = params.page(q)
    rows, total = await services.webhooks.deliveries(
        principal, request.path_params["webhook_id"], params.text(q, "status"), limit, offset
    )
    return page_response(rows, limit, offset, total)


ROUTES = [
    Route("/api/v2/webhooks", register_webhook, methods=["POST"]),
    Route("/api/v2/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/v2/webhooks/{webhook_id:id}", remove_webhook, methods=["DELETE"]),
    Route("/api/v2/webhooks/{webhook_id:id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/v2/alerts", list_alerts, methods=["GET"]),
    Route("/api/v2/overrides", create_override, methods=["POST"]),
    Route("/api/v2/overrides", list_overrides, methods=["GET"]),
    Route("/api/v2/overrides/{override_id:id}/rollback", rollback_override, methods=["POST"]),
]
