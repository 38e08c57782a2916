"""The API's own description: `/openapi.json` always, and `/docs`, a page that reads it, outside production."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.openapi import Operation, document, documented
from gateway.responses import dumps
from gateway.settings import Settings
from schema.errors import NotFound
from schema.responses import ApiDocument

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(default=True),
)


@documented(Operation("This OpenAPI 3.1 document", scopes=None, response=ApiDocument))
async def openapi_document(request: Request) -> Response:
    # Built once per app: the routes do not change while it serves.
    cached: bytes | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = request.app.state.openapi = dumps(document(request.app.routes))
    return Response(cached, media_type="application/json", headers={"Cache-Control": "no-cache"})


async def docs_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if settings.environment == "production":
        # The document stays public; the page that browses it is a development aid.
        raise NotFound("/docs is served outside production only; read /openapi.json")
    page = _PAGES.get_template("docs.html.j2").render(openapi_url="/openapi.json")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


ROUTES = [
    Route("/openapi.json", openapi_document, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
]
