"""Match insights: one event's, the log of what was served, and how accurate they have been."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feeds.audience import Audience
from gateway import params
from gateway.access import authorize
from gateway.responses import json_response
from gateway.services import Services
from schema import SCHEMA_VERSION
from schema.errors import InvalidRequest


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def event_insight(request: Request) -> Response:
    principal = await authorize(request, "insights:read")
    services = _services(request)
    event_id = request.path_params["event_id"]
    visibility = services.access.visibility(principal)
    event = Audience(services.book, visibility).event(event_id)
    insight = await services.insights.insight(event, visibility.key(), history=visibility.sources is None)
    return json_response({"schema_version": SCHEMA_VERSION, "data": insight.model_dump(mode="json")})


async def insight_log(request: Request) -> Response:
    await authorize(request, "odds:control")
    event_id = params.text(request.query_params, "event_id")
    if event_id is None:
        raise InvalidRequest("name the event: /api/v2/insights/log?event_id=...")
    limit, _ = params.page(request.query_params)
    return json_response({"data": await _services(request).insights.log(event_id, limit)})


async def accuracy(request: Request) -> Response:
    await authorize(request, "insights:read")
    sport = params.text(request.query_params, "sport")
    return json_response({"data": await _services(request).insights.accuracy(sport)})


ROUTES = [
    Route("/api/v2/events/{event_id:id}/insight", event_insight, methods=["GET"]),
    Route("/api/v2/insights/log", insight_log, methods=["GET"]),
    Route("/api/v2/insights/accuracy", accuracy, methods=["GET"]),
]
