"""Every request body has a size limit (by route) and a time limit, enforced as it is read.

A body declared larger than its route allows is refused before a byte of it is read; a body sent
without a length (chunked) is counted as it arrives and refused the moment it passes the limit, so
the server never holds more than the limit of any request. Either way the answer is 413
`PAYLOAD_TOO_LARGE`; what the client still sends is read and dropped for at most the body timeout
(see `gateway.serving`), so it can read the answer rather than meet a reset connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_response
from schema.errors import OddsgateError


class PayloadTooLarge(OddsgateError):
    code = "PAYLOAD_TOO_LARGE"


class RequestTimeout(OddsgateError):
    code = "REQUEST_TIMEOUT"


# Routes that take feeds' payloads, which are large by design.
_INGEST = ("/api/v2/ingest", "/api/v2/feeds/")


@dataclass(slots=True, frozen=True)
class BodyLimits:
    ingest: int
    graphql: int
    other: int

    def of(self, path: str) -> int:
        if path.startswith(_INGEST):
            return self.ingest
        if path == "/graphql":
            return self.graphql
        return self.other


class LimitedBodies:
    """ASGI middleware: the route's body limit and `timeout` seconds to send the body."""

    def __init__(self, app: ASGIApp, limits: BodyLimits, timeout: float):
        self.app = app
        self.limits = limits
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response("PAYLOAD_TOO_LARGE", _too_large(limit, declared))
            await response(scope, receive, send)
            return
        await self.app(scope, _LimitedReceive(receive, limit, self.timeout), send)


class _LimitedReceive:
    def __init__(self, receive: Receive, limit: int, timeout: float):
        self.receive = receive
        self.limit = limit
        self.timeout = timeout
        self.received = 0
        self.deadline: float | None = None
        self.complete = False

    async def __call__(self) -> Message:
        if self.complete:
            # Past the body, receive only waits for the client to go (streaming responses).
            return await self.receive()
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.timeout
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.receive()
        except TimeoutError:
            raise RequestTimeout(f"the request body did not arrive within {self.timeout:g} s") from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise PayloadTooLarge(_too_large(self.limit))
            self.complete = not message.get("more_body", False)
        return message


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _too_large(limit: int, declared: int | None = None) -> str:
    size = f"a body of {declared} bytes" if declared is not None else "the body"
    return f"{size} is over this route's limit of {limit} bytes"
