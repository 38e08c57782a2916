"""The canonical JSON format of CONTRACT.md: `{"source", "updates": [Update, ...]}`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal

from feeds.adapters.base import (
    FieldError,
    Parsed,
    Rejection,
    envelope,
    parse_line,
    parse_time,
    require,
    required_text,
    text,
)
from feeds.match_wire import parse_state
from schema.errors import InvalidOdds
from schema.model import SourceQuote
from schema.odds import parse_decimal_odds


class CanonicalAdapter:
    name = "canonical"
    media_type = "application/json"

    def parse(self, payload: bytes, source: str | None = None) -> Iterator[Parsed]:
        name, items = envelope(payload, source, "source", "updates")
        return self.parse_updates(name, items)

    def parse_updates(self, source: str, updates: list[object]) -> Iterator[Parsed]:
        for index, item in enumerate(updates):
            if not isinstance(item, dict):
                yield Rejection(index, f"update must be an object, got {type(item).__name__}", f"updates[{index}]")
                continue
            try:
                yield parse_update(source, item)
            except (FieldError, InvalidOdds) as exc:
                yield Rejection(index, str(exc), f"updates[{index}]", getattr(exc, "code", "INVALID_REQUEST"))


def parse_update(source: str, item: Mapping[str, object]) -> SourceQuote:
    suspended = item.get("suspended", False)
    if not isinstance(suspended, bool):
        raise FieldError("'suspended' must be true or false")
    market = text(item, "market", optional=True)
    raw_outcomes = item.get("outcomes", [])
    if not isinstance(raw_outcomes, list):
        raise FieldError("'outcomes' must be a list")
    if market is not None and not raw_outcomes and not suspended:
        raise FieldError("'outcomes' must not be empty unless the market is suspended")
    prices: list[tuple[str, Decimal | None]] = []
    for position, outcome in enumerate(raw_outcomes):
        if not isinstance(outcome, dict):
            raise FieldError(f"outcomes[{position}] must be an object")
        outcome_id = outcome.get("id")
        if not isinstance(outcome_id, str | int) or isinstance(outcome_id, bool) or outcome_id == "":
            raise FieldError(f"outcomes[{position}].id is required")
        odds = outcome.get("odds")
        try:
            price = None if odds is None and outcome.get("suspended") is True else parse_decimal_odds(odds)
        except InvalidOdds as exc:
            raise InvalidOdds(f"outcomes[{position}] ({outcome_id}): {exc.message}") from None
        prices.append((str(outcome_id), price))
    timestamp = parse_time(require(item, "timestamp"), "timestamp")
    return SourceQuote(
        source=source,
        sport=required_text(item, "sport"),
        league=text(item, "league", optional=True),
        home_team=required_text(item, "home_team"),
        away_team=required_text(item, "away_team"),
        start_time=parse_time(require(item, "start_time"), "start_time"),
        status=text(item, "status", optional=True),
        market=market,
        line=parse_line(item.get("line")),
        prices=tuple(prices),
        suspended=suspended,
        timestamp=timestamp,
        state=parse_state(item.get("state"), timestamp),
    )


ADAPTER = CanonicalAdapter()
