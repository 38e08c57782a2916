"""The control layer over REST: overrides, their history, rollback and alerts (scope
`odds:control`); webhooks (`webhooks:manage` or `odds:control`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auth.principal import MANAGE_WEBHOOKS
from gateway import params
from gateway.access import authenticate
from gateway.openapi import PAGE, Operation, boolean, documented, text, timestamp
from gateway.responses import json_response, paged_response
from gateway.services import Services
from schema import text as stored_text
from schema.commands import CreateOverride, RegisterWebhook, RollbackOverride, command
from schema.paging import Paged
from schema.responses import AlertPage, DeliveryPage, OverrideMade, OverridePage, Webhook, WebhookList
from usecases.operators import CONTROL, AlertFilter, OverrideFilter


@documented(
    Operation(
        "Suspend, resume, set a margin or fix a price at any scope",
        scopes=CONTROL,
        body=CreateOverride,
        response=OverrideMade,
        status=201,
        errors=("INVALID_ODDS", "NOT_FOUND"),
        description="A live, audited action: it reaches every client as a delta, like a price.",
    )
)
async def create_override(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    record = await services.operators.override(principal, command(CreateOverride, await request.body()))
    return json_response(record, status_code=201)


@documented(
    Operation(
        "Undo an override in force, as a new audited action",
        scopes=CONTROL,
        body=RollbackOverride,
        response=OverrideMade,
        status=201,
        errors=("OVERRIDE_NOT_ACTIVE",),
    )
)
async def rollback_override(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    record = await services.operators.rollback_override(
        principal, request.path_params["override_id"], command(RollbackOverride, await request.body())
    )
    return json_response(record, status_code=201)


@documented(
    Operation(
        "Overrides and rollbacks, newest first",
        scopes=CONTROL,
        response=OverridePage,
        query=(
            boolean("active", "only those in force (true) or no longer (false)"),
            text("sport", "a sport or league as clients write it (nfl)"),
            text("event_id", "one event's", max_length=stored_text.EVENT_ID),
            text("actor", "who acted (the token's sub)"),
            text("action", "suspend, resume, margin, price or rollback"),
            timestamp("since", "made at or after"),
            *PAGE,
        ),
    )
)
async def list_overrides(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    q = request.query_params
    selected = OverrideFilter(
        active=params.boolean(q, "active"),
        sport=params.text(q, "sport"),
        event_id=params.text(q, "event_id"),
        actor=params.text(q, "actor"),
        action=params.text(q, "action"),
        since=params.timestamp(q, "since"),
    )
    return paged_response(await services.operators.overrides(principal, selected, params.page(q)))


@documented(
    Operation(
        "Stored alerts, newest first",
        scopes=CONTROL,
        response=AlertPage,
        query=(
            text("kind", "price_move, probability_cross, divergence or source_down"),
            text("event_id", "one event's", max_length=stored_text.EVENT_ID),
            timestamp("since", "raised at or after"),
            *PAGE,
        ),
    )
)
async def list_alerts(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    q = request.query_params
    selected = AlertFilter(
        kind=params.text(q, "kind"), event_id=params.text(q, "event_id"), since=params.timestamp(q, "since")
    )
    found = await services.operators.alerts_raised(principal, selected, params.page(q))
    return paged_response(Paged([a.json() for a in found.items], found.total, found.page))


@documented(
    Operation(
        "Register a webhook: signed deliveries of what its owner's token sees",
        scopes=MANAGE_WEBHOOKS,
        body=RegisterWebhook,
        response=Webhook,
        status=201,
    )
)
async def register_webhook(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    return json_response(
        await services.operators.register_webhook(principal, command(RegisterWebhook, await request.body())),
        status_code=201,
    )


@documented(Operation("The caller's webhooks (everyone's for an admin)", scopes=MANAGE_WEBHOOKS, response=WebhookList))
async def list_webhooks(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    return json_response({"data": await services.operators.registered_webhooks(principal)})


@documented(Operation("Remove a webhook; pending retries are cancelled", scopes=MANAGE_WEBHOOKS, status=204))
async def remove_webhook(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    await services.operators.remove_webhook(principal, request.path_params["webhook_id"])
    return Response(status_code=204)


@documented(
    Operation(
        "A webhook's deliveries, newest first",
        scopes=MANAGE_WEBHOOKS,
        response=DeliveryPage,
        query=(text("status", "pending, delivered, dead or cancelled"), *PAGE),
    )
)
async def list_deliveries(request: Request) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    q = request.query_params
    found = await services.operators.deliveries(
        principal, request.path_params["webhook_id"], params.text(q, "status"), params.page(q)
    )
    return paged_response(found)


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
