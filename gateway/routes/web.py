"""Pages and fragments for browsers: CMS shortcodes, the live widget's script, the operator dashboard."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway import params
from gateway.access import authenticate
from gateway.cms import Fragments, parse_shortcode
from gateway.openapi import Answer, Operation, documented, text
from gateway.services import Services
from schema.errors import Forbidden, InvalidRequest
from schema.model import Event, EventStatus
from schema.paging import Page
from usecases.odds import READ, EventFilter

STATIC = Path(__file__).resolve().parent.parent / "static"
# Fragments are cheap to make and prices move: a CDN or CMS may keep one a few seconds, then
# revalidate with the ETag while serving the old one.
FRAGMENT_CACHE = "public, max-age=5, stale-while-revalidate=30"
_FRAGMENTS = Fragments()


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@documented(
    Operation(
        "An HTML fragment of odds for a CMS shortcode, escaped and cacheable",
        scopes=READ,
        media_type="text/html",
        token_param=True,
        query=(text("code", 'the shortcode: [odds event="..." markets="moneyline" format="american"]', required=True),),
        also=(Answer(304, "unchanged since the ETag in If-None-Match", headers=("ETag",)),),
    )
)
async def shortcode(request: Request) -> Response:
    principal = await authenticate(request, token_param=True)
    services = _services(request)
    raw = params.text(request.query_params, "code")
    if raw is None:
        raise InvalidRequest('pass the shortcode as ?code=[odds event="..."]')
    code = parse_shortcode(raw, services.normalizer)
    events: list[Event] = []
    missing: list[str] = []
    if code.event is not None:
        event = services.odds.find(principal, code.event)
        if event is None:
            missing.append(code.event)
        else:
            events.append(event)
    else:
        visibility = services.access.visibility(principal)
        if code.sport is not None and not visibility.overlaps(code.sport, code.league or ""):
            raise Forbidden(f"this token does not cover {code.league or code.sport}")
        selected = EventFilter(sport=code.sport, league=code.league, status="live" if code.live else None)
        found = services.odds.events(principal, selected, Page(code.limit))
        events = [e for e in found.items if code.live is not False or e.status is not EventStatus.LIVE]
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
