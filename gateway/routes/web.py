"""Pages and fragments for browsers: CMS shortcodes, the live widget's script, the operator dashboard."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from feeds.audience import Audience
from feeds.queries import EventQuery, find_events
from gateway import params
from gateway.access import authorize
from gateway.cms import Fragments, parse_shortcode
from gateway.services import Services
from schema.errors import Forbidden, InvalidRequest
from schema.model import Event, EventStatus

STATIC = Path(__file__).resolve().parent.parent / "static"
# Fragments are cheap to make and prices move: a CDN or CMS may keep one a few seconds, then
# revalidate with the ETag while serving the old one.
FRAGMENT_CACHE = "public, max-age=5, stale-while-revalidate=30"
_FRAGMENTS = Fragments()


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def shortcode(request: Request) -> Response:
    principal = await authorize(request, "odds:read", token_param=True)
    services = _services(request)
    raw = params.text(request.query_params, "code")
    if raw is None:
        raise InvalidRequest('pass the shortcode as ?code=[odds event="..."]')
    code = parse_shortcode(raw, services.normalizer)
    visibility = services.access.visibility(principal)
    events: list[Event] = []
    missing: list[str] = []
    if code.event is not None:
        event = services.book.event(code.event)
        if event is None:
            missing.append(code.event)
        else:
            events.append(Audience(services.book, visibility).shown(event))
    else:
        if code.sport is not None and not visibility.overlaps(code.sport, code.league or ""):
            raise Forbidden(f"this token does not cover {code.league or code.sport}")
        query = EventQuery(
            sport=code.sport,
            league=code.league,
            status=EventStatus.LIVE if code.live else None,
            limit=code.limit,
            visibility=visibility,
        )
        found, _ = find_events(services.book, query)
        events = [e for e in found if code.live is not False or e.status is not EventStatus.LIVE]
    body = _FRAGMENTS.events(code, events, missing).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": FRAGMENT_CACHE, "Vary": "Authorization"}
    if missing:
        headers["X-Oddsgate-Placeholder"] = "event-not-found"
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


async def widget(request: Request) -> Response:
    return FileResponse(
        STATIC / "widget.js", media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"}
    )


async def dashboard(request: Request) -> Response:
    # The page holds no data: it asks for a token, then reads everything through the API.
    return FileResponse(STATIC / "dashboard.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


ROUTES = [
    Route("/cms/shortcode", shortcode, methods=["GET"]),
    Route("/widget.js", widget, methods=["GET"]),
    Route("/dashboard", dashboard, methods=["GET"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
