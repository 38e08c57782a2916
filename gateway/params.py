"""Query-string parsing with the contract's error for every bad value."""

from __future__ import annotations

from datetime import datetime

from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import QueryParams

from schema import text as stored_text
from schema.errors import InvalidRequest
from schema.paging import DEFAULT_PAGE, Page
from schema.times import query_time


class IdConvertor(Convertor[str]):
    """`{name:id}` in a route: a path segment without control characters, no longer than the
    longest id column. Anything else matches no route (404) and never reaches a query."""

    regex = f"[^/\x00-\x1f\x7f]{{1,{stored_text.EVENT_ID}}}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdConvertor())


def text(params: QueryParams, name: str) -> str | None:
    """The parameter, stripped; None when absent or blank. Like any text that reaches a query, it
    holds no control character (PostgreSQL refuses NUL even to compare) and is of a sane length."""
    value = params.get(name)
    if value is None or not value.strip():
        return None
    return stored_text.clean(value, name, stored_text.LABEL)


def integer(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be between {low} and {high}, got {value}")
    return value


def boolean(params: QueryParams, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise InvalidRequest(f"'{name}' must be true or false, got {raw!r}")


def csv(params: QueryParams, name: str) -> list[str] | None:
    raw = params.get(name)
    if raw is None or not raw.strip():
        return None
    raw = stored_text.clean(raw, name, _LIST_LENGTH)
    return [part.strip() for part in raw.split(",") if part.strip()]


# A comma-separated list: room for a page of event ids.
_LIST_LENGTH = 16 * 1024


def timestamp(params: QueryParams, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an ISO 8601 time, got {raw[:40]!r}") from None
    return query_time(parsed, name, raw[:40])


def page(params: QueryParams) -> Page:
    """`limit` and `offset`, as every listing takes them (the rule is `schema.paging.Page`'s)."""
    return Page(integer(params, "limit", DEFAULT_PAGE, -(2**31), 2**31), integer(params, "offset", 0, -(2**31), 2**31))
