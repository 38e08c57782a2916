"""The one small interface every vendor adapter implements, and helpers for reading wire fields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

import orjson

from schema.errors import InvalidRequest
from schema.model import SourceQuote


@dataclass(slots=True, frozen=True)
class Rejection:
    """One item of a payload that could not be read; the rest of the payload still counts."""

    index: int
    reason: str
    path: str | None = None
    code: str = "INVALID_REQUEST"


Parsed = SourceQuote | Rejection


class Adapter(Protocol):
    """Reads one vendor's wire format into source quotes.

    `parse` raises InvalidRequest only when the payload as a whole is unreadable; a bad item
    yields a Rejection and parsing goes on. `source` names the source when the payload does not.
    """

    name: str
    media_type: str

    def parse(self, payload: bytes, source: str | None = None) -> Iterator[Parsed]: ...


class FieldError(ValueError):
    """A field of one item is missing or malformed; the message names the field."""


def load_json(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"payload is not valid JSON: {exc}") from None


def require(item: Mapping[str, object], key: str) -> object:
    value = item.get(key)
    if value is None or value == "":
        raise FieldError(f"'{key}' is required")
    return value


def text(item: Mapping[str, object], key: str, *, optional: bool = False) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        if optional:
            return None
        raise FieldError(f"'{key}' is required")
    if not isinstance(value, str):
        raise FieldError(f"'{key}' must be a string, got {type(value).__name__}")
    stripped = value.strip()
    if not stripped and not optional:
        raise FieldError(f"'{key}' must not be blank")
    return stripped or None


def required_text(item: Mapping[str, object], key: str) -> str:
    value = text(item, key)
    assert value is not None
    return value


def parse_time(value: object, field: str) -> datetime:
    """An ISO 8601 time (naive means UTC) or epoch seconds/milliseconds, as aware UTC."""
    if isinstance(value, bool):
        raise FieldError(f"'{field}' must be a time, got {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise FieldError(f"'{field}' epoch {value!r} is out of range") from None
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"'{field}' must be an ISO 8601 time or epoch number")
    raw = value.strip()
    try:
        parsed = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise FieldError(f"'{field}' {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_line(value: object, field: str = "line") -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(f"'{field}' must be a number, got {value!r}")
    try:
        line = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise FieldError(f"'{field}' {value!r} is not a number") from None
    if not line.is_finite() or abs(line) > 1000:
        raise FieldError(f"'{field}' {value!r} is not a plausible line")
    if line % Decimal("0.25") != 0:
        raise FieldError(f"'{field}' {value!r} is not a multiple of 0.25")
    return line


def split_matchup(name: str, separators: tuple[str, ...]) -> tuple[str, str]:
    """('49ers', 'Ravens') from '49ers vs Ravens'; the first name is the home side."""
    for sep in separators:
        home, found, away = name.partition(sep)
        if found and home.strip() and away.strip():
            return home.strip(), away.strip()
    raise FieldError(f"event name {name!r} is not of the form 'Home{separators[0]}Away'")
