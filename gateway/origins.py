"""The WebSocket origin allow-list (Starlette's CORS middleware does not look at WebSockets), the
same check for `/ws` and for GraphQL over WebSocket."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from auth.tokens import normal_origin
from schema.errors import InvalidRequest


def socket_origin_allowed(connection: HTTPConnection, allowed: list[str]) -> bool:
    """Browsers always send Origin; an empty list allows any origin (and clients that send none).
    Origins compare as `normal_origin` writes them (host in any case, the scheme exactly); a page
    the gateway serves itself (the dashboard) is allowed too: its origin is the gateway's host."""
    origin = connection.headers.get("origin")
    if not allowed or origin is None:
        return True
    try:
        page = normal_origin(origin)
        if page in {normal_origin(a) for a in allowed}:
            return True
        scheme = page.split("://", 1)[0]
        return page == normal_origin(f"{scheme}://{connection.headers.get('host', '')}")
    except InvalidRequest:
        return False
