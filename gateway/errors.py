"""One error shape for every interface: {"error": {"code", "message"}}, with the contract's statuses."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from auth.errors import RateLimited
from auth.ratelimit import RateState
from gateway.responses import json_response
from schema.errors import OddsgateError, Unavailable

log = logging.getLogger(__name__)

STATUS = {
    "INVALID_REQUEST": 422,
    "INVALID_ODDS": 422,
    # GraphQL request errors: 400 in application/graphql-response+json (200 in application/json).
    "GRAPHQL_PARSE_FAILED": 400,
    "GRAPHQL_VALIDATION_FAILED": 400,
    "BAD_USER_INPUT": 400,
    "WEBSOCKET_REQUIRED": 400,
    "STALE_UPDATE": 409,
    "NOT_OWNER": 409,
    "OVERRIDE_NOT_ACTIVE": 409,
    "INSUFFICIENT_FUNDS": 409,
    "PRICE_CHANGED": 409,
    "MARKET_SUSPENDED": 409,
    "MARKET_CLOSED": 409,
    "PRICE_UNRELIABLE": 409,
    "IDEMPOTENCY_MISMATCH": 409,
    "ALREADY_SETTLED": 409,
    "NOT_SETTLED": 409,
    "RISK_LIMIT": 403,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "AGE_VERIFICATION_REQUIRED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "REQUEST_TIMEOUT": 408,
    "HEADERS_TOO_LARGE": 431,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "REGION_BLOCKED": 451,
    "RATE_LIMITED": 429,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error.update(details)
    return {"error": error}


def error_response(code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    return json_response(error_body(code, message, details), status_code=STATUS.get(code, 400))


async def on_oddsgate_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OddsgateError)
    response = error_response(exc.code, exc.message, exc.details)
    if isinstance(exc, RateLimited | Unavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, RateLimited) and isinstance(exc.state, RateState):
        response.headers.update(exc.state.headers())
    if exc.code == "UNAUTHENTICATED":
        response.headers["WWW-Authenticate"] = 'Bearer realm="oddsgate"'
    return response


def status_response(status: int, message: str) -> Response:
    """An HTTP status a framework chose (404, 405, 400...) in the contract's error shape."""
    code = _HTTP_CODES.get(status, "INVALID_REQUEST" if status < 500 else "INTERNAL")
    return json_response(error_body(code, message), status_code=status)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if exc.status_code in (404, 405):
        message = f"{message}: {request.method} {request.url.path}"
    response = status_response(exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def on_client_gone(request: Request, _exc: Exception) -> Response:
    # The client hung up before its body arrived (a timeout of its own, a proxy giving up): nothing
    # was done and nobody is left to answer, so this is no server error. 499 is nginx's convention.
    log.info("client closed %s %s before its body arrived", request.method, request.url.path)
    return Response(status_code=499)


async def on_unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response("INTERNAL", "internal error; it has been logged")


EXCEPTION_HANDLERS = {
    OddsgateError: on_oddsgate_error,
    HTTPException: on_http_error,
    ClientDisconnect: on_client_gone,
    Exception: on_unexpected,
}
