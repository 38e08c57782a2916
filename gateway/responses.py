"""JSON responses through orjson: aware times as ...Z, no float detours for our own types."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from schema.answers import Made
from schema.paging import Paged

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_OPTIONS)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status_code=status_code, headers=headers, media_type="application/json")


def paged_response(found: Paged[Any]) -> Response:
    """A listing in the contract's shape: `data` and `pagination`."""
    return json_response({"data": found.items, "pagination": pagination(found)})


def pagination(found: Paged[Any]) -> dict[str, int]:
    return {"limit": found.page.limit, "offset": found.page.offset, "total": found.total}


def made_response(made: Made, content: Any) -> Response:
    """201 for what a write made; 200 and `Idempotent-Replayed: true` for the first answer again."""
    if made is Made.CREATED:
        return json_response(content, status_code=201)
    return json_response(content, headers={"Idempotent-Replayed": "true"})
