"""Odds in: the canonical batch format, and vendor formats through their adapters."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feeds.adapters import load_adapters
from gateway.access import authenticate
from gateway.errors import error_body
from gateway.openapi import Operation, choice, documented, text
from gateway.responses import json_response
from gateway.services import Services
from schema import text as stored_text
from schema.responses import IngestBatch, IngestReply

# What the document says of the adapters: their names and the media types they read.
_MEDIA_TYPES = {name: adapter.media_type for name, adapter in load_adapters().items()}
INGEST = "odds:ingest"
SOURCE = text("source", "the source's name, where the payload does not carry it", max_length=stored_text.SOURCE)


async def _ingest(request: Request, adapter: str) -> Response:
    principal = await authenticate(request)
    services: Services = request.app.state.services
    # Its size and time are limited as it is read (gateway.request_limits).
    body = await request.body()
    result = services.ingesting.ingest(principal, adapter, body, request.query_params.get("source"))
    reply = result.json()
    if result.rejected and not result.accepted:
        # Nothing was taken: an error status, with every reason, so a client cannot miss it.
        count = len(result.rejected)
        message = f"all {count} update{'s' if count != 1 else ''} were rejected"
        return json_response({**error_body("INVALID_REQUEST", message), **reply}, status_code=422)
    return json_response(reply)


@documented(
    Operation(
        "Odds in, in the canonical format",
        scopes=INGEST,
        body=IngestBatch,
        response=IngestReply,
        query=(SOURCE,),
        errors=("UNAVAILABLE",),
        description="Each update is taken or rejected on its own; 422 only when every one was rejected.",
    )
)
async def ingest_canonical(request: Request) -> Response:
    return await _ingest(request, "canonical")


@documented(
    Operation(
        "Odds in, in a vendor's format, normalized by its adapter",
        scopes=INGEST,
        payloads=tuple(sorted(set(_MEDIA_TYPES.values()))),
        response=IngestReply,
        path=(choice("adapter", "the vendor format", _MEDIA_TYPES, location="path"),),
        query=(SOURCE,),
        errors=("UNAVAILABLE",),
    )
)
async def ingest_vendor(request: Request) -> Response:
    return await _ingest(request, request.path_params["adapter"])


ROUTES = [
    Route("/api/v2/ingest", ingest_canonical, methods=["POST"]),
    Route("/api/v2/feeds/{adapter:id}", ingest_vendor, methods=["POST"]),
]
