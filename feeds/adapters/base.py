"""The one small interface every vendor adapter implements, and helpers for reading wire fields."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

import orjson

from schema.errors import InvalidOdds, InvalidRequest
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


def envelope(payload: bytes, source: str | None, name_key: str, items_key: str) -> tuple[str, list[object]]:
    """The sender's name and its items from a `{name_key: ..., items_key: [...]}` JSON body.

    The body's own name wins; `source` stands in when the body has none.
    """
    body = load_json(payload)
    if not isinstance(body, dict):
        raise InvalidRequest(f"body must be an object with '{name_key}' and '{items_key}'")
    name = body.get(name_key)
    if name is None:
        name = source
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest(f"'{name_key}' must be a non-empty string (or pass a source)")
    items = body.get(items_key)
    if not isinstance(items, list):
        raise InvalidRequest(f"'{items_key}' must be a list of {items_key}")
    return name.strip(), items


def nested_quotes(
    source: str,
    events: list[object],
    *,
    events_key: str,
    markets_key: str,
    keyed: bool,
    read_event: Callable[[str, Mapping[str, object]], SourceQuote],
    read_market: Callable[[SourceQuote, str | int, object], SourceQuote],
) -> Iterator[Parsed]:
    """One quote per market of a vendor's events, or a status-only quote for an event without any.

    Markets come as a list, or with `keyed` as an object keyed by market name. Every market yields exactly one
    quote or rejection (an event whose own fields are bad rejects each of its markets), so indices
    count markets in payload order.
    """
    singular = events_key.removesuffix("s")
    index = 0
    for position, event in enumerate(events):
        path = f"{events_key}[{position}]"
        if not isinstance(event, dict):
            yield Rejection(index, f"{singular} must be an object, got {type(event).__name__}", path=path)
            index += 1
            continue
        markets = event.get(markets_key)
        if markets is None:
            markets = {} if keyed else []
        if not isinstance(markets, dict if keyed else list):
            kind = "an object" if keyed else "a list"
            yield Rejection(index, f"'{markets_key}' must be {kind}, got {type(markets).__name__}", path=path)
            index += 1
            continue
        entries: list[tuple[str | int, str, object]] = (
            [(name, f"{path}.{markets_key}.{name}", market) for name, market in markets.items()]
            if isinstance(markets, dict)
            else [(number, f"{path}.{markets_key}[{number}]", market) for number, market in enumerate(markets)]
        )
        try:
            status_only = read_event(source, event)
        except FieldError as exc:
            for _ in range(max(len(entries), 1)):
                yield Rejection(index, str(exc), path=path)
                index += 1
            continue
        if not entries:
            yield status_only
            index += 1
            continue
        for key, market_path, market in entries:
            try:
                yield read_market(status_only, key, market)
            except (FieldError, InvalidOdds) as exc:
                yield Rejection(index, str(exc), path=market_path, code=getattr(exc, "code", "INVALID_REQUEST"))
            index += 1


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
