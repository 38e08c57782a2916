"""Reading odds: the live book, one event, an event as it was, and source health."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feeds.audience import Audience
from feeds.queries import EventQuery, find_events, only_markets, sport_and_league_filter
from gateway import params
from gateway.access import authorize
from gateway.responses import json_response
from gateway.services import Services
from schema import SCHEMA_VERSION
from schema.errors import InvalidRequest, NotFound
from schema.model import MarketType
from schema.render import OddsFormat, event_json


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _format(request: Request) -> OddsFormat | None:
    raw = params.text(request.query_params, "format")
    if raw is None:
        return None
    try:
        return OddsFormat(raw.lower())
    except ValueError:
        raise InvalidRequest(f"'format' must be decimal, american or fractional, got {raw!r}") from None


def _market_types(services: Services, names: list[str] | None) -> frozenset[MarketType] | None:
    if names is None:
        return None
    return frozenset(services.normalizer.market_type(name) for name in names)


async def list_odds(request: Request) -> Response:
    principal = await authorize(request, "odds:read")
    services = _services(request)
    q = request.query_params
    sport, league = sport_and_league_filter(services.normalizer, params.text(q, "sport"), params.text(q, "league"))
    status = params.text(q, "status")
    event_id = params.text(q, "event_id")
    limit, offset = params.page(q)
    query = EventQuery(
        sport=sport,
        league=league,
        event_ids=frozenset(params.csv(q, "event_id") or []) if event_id else None,
        market_types=_market_types(services, params.csv(q, "markets")),
        status=services.normalizer.status(status) if status else None,
        live=params.boolean(q, "live"),
        limit=limit,
        offset=offset,
        visibility=services.access.visibility(principal),
    )
    fmt = _format(request)
    events, total = find_events(services.book, query)
    return json_response(
        {
            "schema_version": SCHEMA_VERSION,
            "data": [event_json(e, fmt) for e in events],
            "pagination": {"limit": query.limit, "offset": query.offset, "total": total},
        }
    )


async def get_event(request: Request) -> Response:
    principal = await authorize(request, "odds:read")
    services = _services(request)
    event_id = request.path_params["event_id"]
    event = Audience(services.book, services.access.visibility(principal)).event(event_id)
    if (markets := params.csv(request.query_params, "markets")) is not None:
        event = only_markets(event, _market_types(services, markets) or ())
    return json_response({"schema_version": SCHEMA_VERSION, "data": event_json(event, _format(request))})


async def event_history(request: Request) -> Response:
    principal = await authorize(request, "odds:read")
    services = _services(request)
    event_id = request.path_params["event_id"]
    at = params.timestamp(request.query_params, "at") or datetime.now(UTC)
    audience = Audience(services.book, services.access.visibility(principal))
    event = await services.audit.event_at(event_id, at, view=audience.view)
    if event is None:
        raise NotFound(f"event {event_id!r} has no audited odds at or before {at.isoformat()}")
    event = audience.shown(event)
    if (market := params.text(request.query_params, "market")) is not None:
        wanted = market if ":" in market else services.normalizer.market_type(market)
        event = only_markets(event, [wanted])
    return json_response({"schema_version": SCHEMA_VERSION, "as_of": at, "data": event_json(event, _format(request))})


async def list_sources(request: Request) -> Response:
    await authorize(request, "odds:read")
    services = _services(request)
    now = services.book.clock()
    return json_response(
        {
            "data": [
                {
                    "source": s.name,
                    "up": s.up,
                    "last_seen": datetime.fromtimestamp(s.last_seen, UTC),
                    "silent_seconds": round(now - s.last_seen, 3),
                    "updates": s.updates,
                    "accuracy_weight": services.book.consensus.weight(s.name),
                }
                for s in services.sources.health()
            ]
        }
    )


ROUTES = [
    Route("/api/v2/odds", list_odds, methods=["GET"]),
    Route("/api/v2/events/{event_id:id}", get_event, methods=["GET"]),
    Route("/api/v2/events/{event_id:id}/history", event_history, methods=["GET"]),
    Route("/api/v2/sources", list_sources, methods=["GET"]),
]
