"""GraphQL over HTTP as its spec has it: the response's media type by the Accept header, and the
status of an operation that never ran (a "request error")."""

from __future__ import annotations

import orjson
from graphql import GraphQLError
from starlette.responses import Response
from strawberry.types import ExecutionResult

from resolvers.errors import REQUEST_ERROR_CODES, code_of

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_CONTENT_TYPES = {GRAPHQL_RESPONSE: f"{GRAPHQL_RESPONSE}; charset=utf-8", JSON: JSON}
# What each Accept entry is answered with; `*/*` and no Accept at all get plain JSON, as before the spec.
_ANSWERS = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON}
WEBSOCKET_REQUIRED = "WEBSOCKET_REQUIRED"


def accepted_media_type(accept: str | None) -> str | None:
    """The media type to answer in: the acceptable one with the highest q (the first on a tie);
    None when the client accepts neither of ours."""
    if accept is None or not accept.strip():
        return JSON
    best, best_q = None, 0.0
    for entry in accept.split(","):
        media_type, *params = entry.split(";")
        answer = _ANSWERS.get(media_type.strip().lower())
        if answer is not None and (q := _quality(params)) > best_q:
            best, best_q = answer, q
    return best


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def content_type(media_type: str) -> str:
    return _CONTENT_TYPES[media_type]


def is_request_error(result: ExecutionResult) -> bool:
    """The document did not parse or validate, or the variables did not coerce: nothing ran."""
    errors = result.errors
    return result.data is None and bool(errors) and all(code_of(e) in REQUEST_ERROR_CODES for e in errors or ())


class OperationRefused(Exception):
    """An operation this door does not run, answered as a GraphQL error with its code."""

    def __init__(self, status: int, code: str, message: str, allow: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = GraphQLError(message, extensions={"code": code})
        self.allow = allow

    def response(self, media_type: str) -> Response:
        response = Response(
            orjson.dumps({"errors": [self.error.formatted]}),
            status_code=self.status,
            media_type=content_type(media_type),
        )
        if self.allow is not None:
            response.headers["Allow"] = self.allow
        return response
