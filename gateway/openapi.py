"""The OpenAPI 3.1 document, built from the code: each REST handler carries an `Operation` (its
summary, scopes, parameters, bodies and the error codes it can answer) through `@documented`,
and the document walks the app's routes, so a route's path and methods are never written twice.
Bodies are pydantic models (`schema.commands`, `schema.responses`) whose JSON Schema (2020-12,
OpenAPI 3.1's dialect) goes under components/schemas."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import BaseRoute, Route

from auth.principal import Scopes
from gateway.errors import STATUS
from schema import text as stored_text
from schema.paging import DEFAULT_PAGE, MAX_OFFSET, MAX_PAGE
from schema.responses import ErrorResponse
from schema.times import EARLIEST, LATEST

JSON = dict[str, Any]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
OPENAPI_VERSION = "3.1.0"

# Any request can meet these: the transport's limits and a bug.
TRANSPORT_ERRORS = ("PAYLOAD_TOO_LARGE", "REQUEST_TIMEOUT", "HEADERS_TOO_LARGE", "INTERNAL")
# Any request with a token can meet these (`gateway.access.authenticate`, then the use-case's admission).
TOKEN_ERRORS = ("UNAUTHENTICATED", "FORBIDDEN", "AGE_VERIFICATION_REQUIRED", "REGION_BLOCKED", "RATE_LIMITED")
# Seconds to wait: on 429 and 503.
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}


@dataclass(frozen=True, slots=True)
class Param:
    """A query, header or path parameter as `gateway.params` reads it."""

    name: str
    description: str
    schema: JSON
    required: bool = False
    location: Literal["query", "header", "path"] = "query"

    def json(self) -> JSON:
        return {
            "name": self.name,
            "in": self.location,
            "description": self.description,
            "required": self.required or self.location == "path",
            "schema": self.schema,
        }


def text(name: str, description: str, *, required: bool = False, max_length: int = stored_text.LABEL) -> Param:
    """`params.text`: stripped, blank means absent, no control characters."""
    return Param(name, description, {"type": "string", "maxLength": max_length}, required)


def choice(
    name: str, description: str, values: Iterable[str], *, location: Literal["query", "path"] = "query"
) -> Param:
    return Param(name, description, {"type": "string", "enum": sorted(values)}, location=location)


def integer(name: str, description: str, low: int, high: int, default: int) -> Param:
    return Param(name, description, {"type": "integer", "minimum": low, "maximum": high, "default": default})


def boolean(name: str, description: str) -> Param:
    """`params.boolean`: also 1/0 and yes/no."""
    return Param(name, description, {"type": "boolean"})


def timestamp(name: str, description: str) -> Param:
    """`params.timestamp`: ISO 8601; without a zone it is UTC."""
    schema = {"type": "string", "format": "date-time"}
    return Param(name, f"{description} (ISO 8601, {EARLIEST.year} to {LATEST.year})", schema)


def csv(name: str, description: str) -> Param:
    """`params.csv`: a comma-separated list."""
    return Param(name, f"{description}, comma-separated", {"type": "string"})


def header(name: str, description: str, *, max_length: int) -> Param:
    return Param(name, description, {"type": "string", "minLength": 1, "maxLength": max_length}, True, "header")


PAGE = (
    integer("limit", "how many to return", 1, MAX_PAGE, DEFAULT_PAGE),
    integer("offset", "how many to skip", 0, MAX_OFFSET, 0),
)


@dataclass(frozen=True, slots=True)
class Answer:
    """A success (or, like /ready's 503, a status report) other than the operation's own."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """What the document says of one handler: everything but its path and methods, which the route has.

    `scopes`: the scope the use-case admits (a tuple: any one of them), None for a route without a token.
    `errors`: the codes it answers beyond those every route can (the transport's, the token's, INVALID_REQUEST
    where it takes parameters or a body, NOT_FOUND where its path has an id).
    `replayed`: a repeated request (same idempotency key or reference) answers 200 with what it made first.
    `payloads`: media types of a body taken as it is (a vendor's feed), instead of `body`."""

    summary: str
    scopes: Scopes | None
    response: type[BaseModel] | None = None
    status: int = 200
    media_type: str = "application/json"
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    path: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    payloads: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    replayed: bool = False
    token_param: bool = False
    also: tuple[Answer, ...] = ()
    description: str = ""
    # The group it is listed under; by default the name of the handler's module (`bets`, `control`).
    tag: str | None = None

    @property
    def scope_list(self) -> list[str]:
        if self.scopes is None:
            return []
        return [self.scopes] if isinstance(self.scopes, str) else list(self.scopes)


_DOCUMENTED: dict[Callable[..., Any], Operation] = {}


def documented(operation: Operation) -> Callable[[Endpoint], Endpoint]:
    """Attaches `operation` to a handler; the handler itself is unchanged."""

    def attach(endpoint: Endpoint) -> Endpoint:
        _DOCUMENTED[endpoint] = operation
        return endpoint

    return attach


def operation_of(route: BaseRoute) -> Operation | None:
    return _DOCUMENTED.get(route.endpoint) if isinstance(route, Route) else None


_CONVERTOR = re.compile(r"{(\w+):\w+}")
_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": stored_text.EVENT_ID,
    "pattern": "^[^/\\u0000-\\u001f\\u007f]+$",
}


def openapi_path(route: Route) -> str:
    """`/api/v2/bets/{bet_id:id}` as OpenAPI writes it: `/api/v2/bets/{bet_id}`."""
    return _CONVERTOR.sub(r"{\1}", route.path)


Model = tuple[type[BaseModel], JsonSchemaMode]


class _Schemas:
    """components/schemas of every model the document names (pydantic names them all in one pass,
    so a model used twice is defined once), and a `$ref` to each."""

    def __init__(self, models: Iterable[Model]):
        refs, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
        self._refs: dict[tuple[Any, JsonSchemaMode], JSON] = dict(refs)
        self.components: JSON = dict(sorted(top.get("$defs", {}).items()))

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> JSON:
        return self._refs[(model, mode)]


def _models(spec: Operation) -> Iterable[Model]:
    if spec.body is not None:
        yield spec.body, "validation"
    if spec.response is not None:
        yield spec.response, "serialization"
    yield from ((a.model, "serialization") for a in spec.also if a.model is not None)


def document(routes: Sequence[BaseRoute], *, title: str = "oddsgate", version: str | None = None) -> JSON:
    """The OpenAPI 3.1 document of every documented route among `routes`."""
    found: list[tuple[str, str, _Built]] = []
    for route in routes:
        spec = operation_of(route)
        if spec is None or not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((openapi_path(route), method.lower(), _Built(route, spec)))
    schemas = _Schemas([(ErrorResponse, "serialization"), *(m for *_, item in found for m in _models(item.spec))])
    paths: dict[str, dict[str, JSON]] = {}
    ids: set[str] = set()
    for path, method, item in found:
        body = item.json(schemas)
        if body["operationId"] in ids:
            raise ValueError(f"two documented handlers are named {body['operationId']!r}")
        ids.add(body["operationId"])
        paths.setdefault(path, {})[method] = body
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version or _version(),
            "description": (
                "Odds API gateway: consensus odds, the control layer, betting and insights over REST. "
                'Every error is `{"error": {"code", "message"}}`; each response lists the codes it can '
                "carry (`x-error-codes`), and each operation the token scopes it needs (`x-scopes`, any one "
                "of them). GraphQL's schema is `schema.graphql` (`oddsgate schema graphql`)."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <JWT>`; `oddsgate token create` prints one",
                },
                "token": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "the same JWT as `?token=`, where a page embeds it (CMS fragments)",
                },
            },
        },
    }


class _Built:
    """One operation's object: its route and what its handler's `Operation` says."""

    def __init__(self, route: Route, spec: Operation):
        self.route = route
        self.spec = spec

    def json(self, schemas: _Schemas) -> JSON:
        spec, route = self.spec, self.route
        scopes = spec.scope_list
        parameters = self._parameters()
        body: JSON = {
            "operationId": route.endpoint.__name__,
            "summary": spec.summary,
            "description": self._description(scopes),
            "tags": [spec.tag or route.endpoint.__module__.rsplit(".", 1)[-1]],
            "parameters": [p.json() for p in parameters],
        }
        if spec.scopes is not None:
            schemes = ("bearer", "token") if spec.token_param else ("bearer",)
            body["security"] = [{name: [scope]} for name in schemes for scope in scopes]
            body["x-scopes"] = scopes
        else:
            body["security"] = []
        if spec.body is not None:
            # A body whose every field is optional may be left out (a rollback's reason).
            required = any(f.is_required() for f in spec.body.model_fields.values())
            schema = schemas.ref(spec.body, "validation")
            body["requestBody"] = {"required": required, "content": {"application/json": {"schema": schema}}}
        elif spec.payloads:
            body["requestBody"] = {
                "required": True,
                "content": {m: {"schema": {} if m.endswith("json") else {"type": "string"}} for m in spec.payloads},
            }
        takes_input = bool(parameters) or spec.body is not None or bool(spec.payloads)
        body["responses"] = self._responses(schemas, takes_input)
        if not body["parameters"]:
            del body["parameters"]
        return body

    def _description(self, scopes: list[str]) -> str:
        spec = self.spec
        parts = [spec.description] if spec.description else []
        if len(scopes) == 1:
            parts.append(f"Scope: `{scopes[0]}`.")
        elif scopes:
            parts.append("Scope: any one of " + ", ".join(f"`{s}`" for s in scopes) + ".")
        else:
            parts.append("No token needed.")
        return "\n\n".join(parts)

    def _parameters(self) -> list[Param]:
        declared = {p.name: p for p in self.spec.path}
        found = [
            declared.get(name) or Param(name, f"the {name.replace('_', ' ')}", dict(_ID), location="path")
            for name in self.route.param_convertors
        ]
        query = list(self.spec.query)
        if self.spec.token_param:
            query.append(text("token", "the JWT, where no Authorization header can be sent", max_length=8192))
        return [*found, *self.spec.headers, *query]

    def _responses(self, schemas: _Schemas, takes_input: bool) -> JSON:
        spec = self.spec
        responses: JSON = {}

        def content(ref: JSON | None, media_type: str) -> JSON:
            return {} if ref is None else {"content": {media_type: {"schema": ref}}}

        made = schemas.ref(spec.response) if spec.response is not None else None
        if made is None and spec.status != 204:
            # A page, a fragment or metrics: text, not a JSON body.
            made = {"type": "string"}
        responses[str(spec.status)] = {"description": spec.summary, **content(made, spec.media_type)}
        if spec.replayed:
            responses["200"] = {
                "description": "the same request again: what it made the first time, unchanged",
                "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
                **content(made, spec.media_type),
            }
        for answer in spec.also:
            headers = {name: {"schema": {"type": "string"}} for name in answer.headers}
            responses[str(answer.status)] = {
                "description": answer.description,
                **({"headers": headers} if headers else {}),
                **content(schemas.ref(answer.model) if answer.model is not None else None, answer.media_type),
            }
        codes = list(TRANSPORT_ERRORS)
        if spec.scopes is not None:
            codes += TOKEN_ERRORS
        if takes_input:
            codes.append("INVALID_REQUEST")
        if self.route.param_convertors:
            codes.append("NOT_FOUND")
        codes += spec.errors
        by_status: dict[int, list[str]] = {}
        for code in dict.fromkeys(codes):
            by_status.setdefault(STATUS[code], []).append(code)
        for status, named in sorted(by_status.items()):
            if str(status) in responses:
                raise ValueError(f"{self.route.path}: status {status} is both a success and an error")
            responses[str(status)] = {
                "description": ", ".join(named),
                "x-error-codes": named,
                **({"headers": RETRY_AFTER} if status in (429, 503) else {}),
                "content": {"application/json": {"schema": schemas.ref(ErrorResponse)}},
            }
        return dict(sorted(responses.items()))


def _version() -> str:
    try:
        return metadata.version("oddsgate")
    except metadata.PackageNotFoundError:
        return "0.0.0"
