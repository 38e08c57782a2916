"""Times a query may name, whichever door it came through."""

from __future__ import annotations

from datetime import UTC, datetime

from schema.errors import InvalidRequest

# Times any database here stores and any client means; beyond them an index lookup is only a way
# to find an edge case in a driver.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def query_time(value: datetime | None, name: str, written: str | None = None) -> datetime | None:
    """`value` in UTC (a naive time is taken as UTC), or INVALID_REQUEST outside 1970-9000.
    `written`: the value as the client wrote it, for the message."""
    if value is None:
        return None
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(f"'{name}' is outside the years 1 to 9999 in UTC, got {written!r}") from None
    if not EARLIEST <= value <= LATEST:
        shown = written if written is not None else value.isoformat()
        raise InvalidRequest(f"'{name}' must be between {EARLIEST.year} and {LATEST.year}, got {shown!r}")
    return value
