"""The WebSocket origin allow-list (Starlette's CORS middleware does not look at WebSockets)."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def origin_allowed(connection: HTTPConnection, allowed: list[str]) -> bool:
    """Browsers always send Origin; an empty list allows any origin (and clients that send none)."""
    if not allowed:
        return True
    origin = connection.headers.get("origin")
    return origin is None or origin.rstrip("/") in {a.rstrip("/") for a in allowed}
