"""JSON responses through orjson: aware times as ...Z, no float detours for our own types."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_OPTIONS)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status_code=status_code, headers=headers, media_type="application/json")


def page_response(rows: list[Any], limit: int, offset: int, total: int) -> Response:
    return json_response({"data": rows, "pagination": {"limit": limit, "offset": offset, "total": total}})
