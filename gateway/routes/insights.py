"""Match insights: one event's, the log of what was served, and how accurate they have been."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import params
from gateway.access import authenticate
from gateway.openapi import PAGE, Operation, documented, text
from gateway.responses import json_response
from gateway.services import Services
from schema import SCHEMA_VERSION
from schema import text as stored_text
from schema.errors import InvalidRequest
from schema.responses import AccuracyList, InsightLog, InsightReply
from usecases.insights import CONTROL, READ


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@documented(
    Operation(
        "The event's match insight, written from the prices the caller is shown",
        scopes=READ,
        response=InsightReply,
        description="From the configured LLM, or the heuristic (labelled in `generator`); cached per audience.",
    )
)
async def event_insight(request: Request) -> Response:
    principal = await authenticate(request)
    insight = await _services(request).insight_reading.insight(principal, request.path_params["event_id"])
    return json_response({"schema_version": SCHEMA_VERSION, "data": insight.model_dump(mode="json")})


@documented(
    Operation(
        "What was served for an event, newest first",
        scopes=CONTROL,
        response=InsightLog,
        query=(text("event_id", "the event", required=True, max_length=stored_text.EVENT_ID), *PAGE),
    )
)
async def insight_log(request: Request) -> Response:
    principal = await authenticate(request)
    event_id = params.text(request.query_params, "event_id")
    if event_id is None:
        raise InvalidRequest("name the event: /api/v2/insights/log?event_id=...")
    page = params.page(request.query_params)
    return json_response({"data": await _services(request).insight_reading.log(principal, event_id, page)})


@documented(
    Operation(
        "How accurate insights have been: Brier score, log loss and calibration",
        scopes=READ,
        response=AccuracyList,
        query=(text("sport", "one sport's"),),
    )
)
async def accuracy(request: Request) -> Response:
    principal = await authenticate(request)
    sport = params.text(request.query_params, "sport")
    return json_response({"data": await _services(request).insight_reading.accuracy(principal, sport)})


ROUTES = [
    Route("/api/v2/events/{event_id:id}/insight", event_insight, methods=["GET"]),
    Route("/api/v2/insights/log", insight_log, methods=["GET"]),
    Route("/api/v2/insights/accuracy", accuracy, methods=["GET"]),
]
