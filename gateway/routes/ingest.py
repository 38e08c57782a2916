"""Odds in: the canonical batch format, and vendor formats through their adapters."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.access import authorize
from gateway.errors import error_body
from gateway.responses import json_response
from gateway.services import Services


async def _ingest(request: Request, adapter: str) -> Response:
    principal = await authorize(request, "odds:ingest")
    services: Services = request.app.state.services
    services.ingestor.adapter(adapter)
    services.admit_ingest()
    # Its size and time are limited as it is read (gateway.request_limits).
    body = await request.body()
    visibility = services.access.visibility(principal)
    result = services.ingest(adapter, body, request.query_params.get("source"), visibility)
    reply = result.json()
    if result.rejected and not result.accepted:
        # Nothing was taken: an error status, with every reason, so a client cannot miss it.
        count = len(result.rejected)
        message = f"all {count} update{'s' if count != 1 else ''} were rejected"
        return json_response({**error_body("INVALID_REQUEST", message), **reply}, status_code=422)
    return json_response(reply)


async def ingest_canonical(request: Request) -> Response:
    return await _ingest(request, "canonical")


async def ingest_vendor(request: Request) -> Response:
    return await _ingest(request, request.path_params["adapter"])


ROUTES = [
    Route("/api/v2/ingest", ingest_canonical, methods=["POST"]),
    Route("/api/v2/feeds/{adapter:id}", ingest_vendor, methods=["POST"]),
]
