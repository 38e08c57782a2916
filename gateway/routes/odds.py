"""Reading odds: the live book, one event, an event as it was, and source health."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import params
from gateway.access import authenticate
from gateway.openapi import PAGE, Operation, boolean, choice, csv, documented, text, timestamp
from gateway.responses import json_response
from gateway.services import Services
from schema import SCHEMA_VERSION
from schema.errors import InvalidRequest
from schema.render import OddsFormat, event_json
from schema.responses import EventAsOf, EventPage, EventReply, SourceList
from usecases.odds import READ, EventFilter, OddsReading


def _odds(request: Request) -> OddsReading:
    services: Services = request.app.state.services
    return services.odds


def _format(request: Request) -> OddsFormat | None:
    raw = params.text(request.query_params, "format")
    if raw is None:
        return None
    try:
        return OddsFormat(raw.lower())
    except ValueError:
        raise InvalidRequest(f"'format' must be decimal, american or fractional, got {raw!r}") from None


def _markets(request: Request) -> tuple[str, ...] | None:
    names = params.csv(request.query_params, "markets")
    return None if names is None else tuple(names)


@documented(
    Operation(
        "The live book: events the caller may see, live first, then by start time",
        scopes=READ,
        response=EventPage,
        query=(
            text("sport", "a sport or league as clients write it (nfl, soccer)"),
            text("league", "a league"),
            csv("event_id", "only these events"),
            csv("markets", "only these market types (moneyline, spread, total, 1x2)"),
            text("status", "scheduled, live, finished, postponed or cancelled"),
            boolean("live", "only live events (true) or none of them (false)"),
            choice("format", "one odds format instead of all three", [f.value for f in OddsFormat]),
            *PAGE,
        ),
    )
)
async def list_odds(request: Request) -> Response:
    principal = await authenticate(request)
    q = request.query_params
    event_ids = params.csv(q, "event_id")
    selected = EventFilter(
        sport=params.text(q, "sport"),
        league=params.text(q, "league"),
        event_ids=frozenset(event_ids) if event_ids else None,
        markets=_markets(request),
        status=params.text(q, "status"),
        live=params.boolean(q, "live"),
    )
    fmt = _format(request)
    found = _odds(request).events(principal, selected, params.page(q))
    return json_response(
        {
            "schema_version": SCHEMA_VERSION,
            "data": [event_json(e, fmt) for e in found.items],
            "pagination": {"limit": found.page.limit, "offset": found.page.offset, "total": found.total},
        }
    )


@documented(
    Operation(
        "One event as the caller is shown it",
        scopes=READ,
        response=EventReply,
        query=(
            csv("markets", "only these market types"),
            choice("format", "one odds format instead of all three", [f.value for f in OddsFormat]),
        ),
    )
)
async def get_event(request: Request) -> Response:
    principal = await authenticate(request)
    event = _odds(request).event(principal, request.path_params["event_id"], _markets(request))
    return json_response({"schema_version": SCHEMA_VERSION, "data": event_json(event, _format(request))})


@documented(
    Operation(
        "An event as the caller's audience was served it at a time, rebuilt from the audit",
        scopes=READ,
        response=EventAsOf,
        query=(
            timestamp("at", "the time (default: now)"),
            text("market", "one market: a type (spread) or an id (spread:-3.5)"),
            choice("format", "one odds format instead of all three", [f.value for f in OddsFormat]),
        ),
    )
)
async def event_history(request: Request) -> Response:
    principal = await authenticate(request)
    q = request.query_params
    at, event = await _odds(request).history(
        principal, request.path_params["event_id"], params.timestamp(q, "at"), params.text(q, "market")
    )
    return json_response({"schema_version": SCHEMA_VERSION, "as_of": at, "data": event_json(event, _format(request))})


@documented(Operation("Every source the book has heard from, and its health", scopes=READ, response=SourceList))
async def list_sources(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response({"data": [asdict(s) for s in _odds(request).sources(principal)]})


ROUTES = [
    Route("/api/v2/odds", list_odds, methods=["GET"]),
    Route("/api/v2/events/{event_id:id}", get_event, methods=["GET"]),
    Route("/api/v2/events/{event_id:id}/history", event_history, methods=["GET"]),
    Route("/api/v2/sources", list_sources, methods=["GET"]),
]
