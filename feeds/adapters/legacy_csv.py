"""The legacy semicolon-separated feed: one row per selection, fractional odds, UK dates in UTC.

A header row naming the columns of `COLUMNS`, in that order, is required. Consecutive rows of the
same match, market and line form one item, quoted as of the group's latest `last_update`. A bad
row rejects its whole group, at the path `line N` of the first bad row, because the group without
that row would pass for a market missing a selection. A row too short to name its match and market
is an item of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from feeds.adapters.base import FieldError, Parsed, Rejection, parse_line
from schema.errors import InvalidOdds, InvalidRequest
from schema.model import SourceQuote
from schema.odds import parse_fractional_odds

COLUMNS = (
    "match_date",
    "kick_off",
    "sport",
    "league",
    "home",
    "away",
    "market",
    "line",
    "selection",
    "price",
    "last_update",
)
# The leading columns that a group's rows share: match, market and line.
GROUP_COLUMNS = COLUMNS.index("selection")
SUSPENDED_PRICE = "SUSP"


@dataclass(slots=True, frozen=True)
class _Row:
    number: int
    fields: dict[str, str]
    width: int

    def key(self) -> tuple[str, ...] | None:
        """What the row's group shares; None for a row too short to belong to any group."""
        if self.width < GROUP_COLUMNS:
            return None
        return tuple(self.fields[column] for column in COLUMNS[:GROUP_COLUMNS])


class LegacyCsvAdapter:
    name = "legacy_csv"
    media_type = "text/csv"

    def parse(self, payload: bytes, source: str | None = None) -> Iterator[Parsed]:
        try:
            content = payload.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"payload is not UTF-8: invalid byte at offset {exc.start}") from None
        return self.parse_groups(source or self.name, read_rows(content))

    def parse_groups(self, source: str, rows: list[_Row]) -> Iterator[Parsed]:
        for index, group in enumerate(group_rows(rows)):
            yield parse_group(index, source, group)


def read_rows(content: str) -> list[_Row]:
    """The data rows under a checked header; read up front so a CSV error refuses the whole payload."""
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=";")
    expected = ";".join(COLUMNS)
    rows: list[_Row] = []
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidRequest(f"payload is empty: expected the header row {expected}")
        if tuple(column.strip().lower() for column in header) != COLUMNS:
            raise InvalidRequest(f"header row must be {expected}, got {';'.join(header)}")
        for values in reader:
            if any(value.strip() for value in values):
                # `line_num` counts physical lines, so it stays right across blank lines and quoted newlines.
                fields = dict(zip(COLUMNS, (value.strip() for value in values), strict=False))
                rows.append(_Row(reader.line_num, fields, len(values)))
    except csv.Error as exc:
        raise InvalidRequest(f"line {reader.line_num} is not readable CSV: {exc}") from None
    return rows


def group_rows(rows: list[_Row]) -> Iterator[list[_Row]]:
    group: list[_Row] = []
    for row in rows:
        key = row.key()
        if group and (key is None or key != group[0].key()):
            yield group
            group = []
        group.append(row)
        if key is None:
            yield group
            group = []
    if group:
        yield group


def parse_group(index: int, source: str, group: list[_Row]) -> Parsed:
    prices: list[tuple[str, Decimal | None]] = []
    updates: list[datetime] = []
    for row in group:
        try:
            selection, price, updated = parse_selection(row)
        except (FieldError, InvalidOdds) as exc:
            return reject(index, exc, row, group)
        prices.append((selection, price))
        updates.append(updated)
    first = group[0]
    try:
        return SourceQuote(
            source=source,
            sport=required(first, "sport"),
            league=first.fields["league"] or None,
            home_team=required(first, "home"),
            away_team=required(first, "away"),
            start_time=datetime.combine(parse_date(first, "match_date"), parse_clock(first, "kick_off"), tzinfo=UTC),
            status=None,
            market=required(first, "market"),
            line=parse_line(first.fields["line"], "line"),
            prices=tuple(prices),
            suspended=False,
            timestamp=max(updates),
        )
    except FieldError as exc:
        return reject(index, exc, first, group)


def reject(index: int, exc: Exception, row: _Row, group: list[_Row]) -> Rejection:
    reason = str(exc)
    if len(group) > 1:
        reason += f" (rejects the group of lines {group[0].number}-{group[-1].number})"
    return Rejection(index, reason, path=f"line {row.number}", code=getattr(exc, "code", "INVALID_REQUEST"))


def parse_selection(row: _Row) -> tuple[str, Decimal | None, datetime]:
    if row.width != len(COLUMNS):
        raise FieldError(f"row has {row.width} fields, expected {len(COLUMNS)}")
    selection = required(row, "selection")
    price = required(row, "price")
    updated = parse_timestamp(row, "last_update")
    if price.upper() == SUSPENDED_PRICE:
        return selection, None, updated
    try:
        return selection, parse_fractional_odds(price), updated
    except InvalidOdds as exc:
        raise InvalidOdds(f"selection {selection!r}: {exc.message}") from None


def required(row: _Row, column: str) -> str:
    value = row.fields[column]
    if not value:
        raise FieldError(f"'{column}' is required")
    return value


def parse_date(row: _Row, column: str) -> date:
    value = required(row, column)
    try:
        return datetime.strptime(value, "%d/%m/%Y").replace(tzinfo=UTC).date()
    except ValueError:
        raise FieldError(f"'{column}' {value!r} is not a DD/MM/YYYY date") from None


def parse_clock(row: _Row, column: str) -> time:
    value = required(row, column)
    try:
        return datetime.strptime(value, "%H:%M").replace(tzinfo=UTC).time()
    except ValueError:
        raise FieldError(f"'{column}' {value!r} is not an HH:MM time") from None


def parse_timestamp(row: _Row, column: str) -> datetime:
    value = required(row, column)
    try:
        return datetime.strptime(value, "%d/%m/%Y %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise FieldError(f"'{column}' {value!r} is not a DD/MM/YYYY HH:MM:SS time") from None


ADAPTER = LegacyCsvAdapter()
