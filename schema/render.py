"""The contract's JSON shapes for events, markets, outcomes and deltas."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

import orjson

from schema.match import Incident, MatchState
from schema.model import Delta, Event, EventInfo, Market, MarketResult, MarketView, Outcome
from schema.odds import formats, implied_probability

JSON = dict[str, Any]


class OddsFormat(StrEnum):
    DECIMAL = "decimal"
    AMERICAN = "american"
    FRACTIONAL = "fractional"


def odds_json(odds: Decimal, fmt: OddsFormat | None = None) -> JSON:
    decimal, american, fractional = formats(odds)
    if fmt is None:
        return {"decimal": decimal, "american": american, "fractional": fractional}
    if fmt is OddsFormat.DECIMAL:
        return {"decimal": decimal}
    if fmt is OddsFormat.AMERICAN:
        return {"american": american}
    return {"fractional": fractional}


@lru_cache(maxsize=65536)
def _price_json(odds: Decimal) -> tuple[JSON, float]:
    # Shared between outputs: serialized, never mutated.
    return odds_json(odds), round(float(implied_probability(odds)), 4)


def outcome_json(outcome: Outcome, fmt: OddsFormat | None = None) -> JSON:
    if fmt is None:
        odds, implied = _price_json(outcome.odds)
    else:
        odds, implied = odds_json(outcome.odds, fmt), _price_json(outcome.odds)[1]
    return {
        "id": outcome.id,
        "name": outcome.name,
        "odds": odds,
        "implied_probability": implied,
        "updated_at": outcome.updated_at,
        "source_count": outcome.source_count,
        "confidence": outcome.confidence,
        "sources": {name: float(odds) for name, odds in outcome.sources.items()},
        "flags": list(outcome.flags),
    }


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def result_json(result: MarketResult | None) -> JSON | None:
    if result is None:
        return None
    return {
        "id": result.id,
        "winners": list(result.winners),
        "void": result.void,
        "outcomes": dict(result.outcomes),
        "dead_heat_factor": None if result.dead_heat_factor is None else str(result.dead_heat_factor),
        "settled_at": result.settled_at,
    }


def _view_json(view: MarketView) -> JSON:
    return {
        "name": view.name,
        "suspended": view.suspended,
        "margin": _number(view.margin),
        "market_changed": view.market_changed,
        "outcomes": [outcome_json(o) for o in view.outcomes],
    }


def market_json(market: Market, fmt: OddsFormat | None = None, *, wire: bool = False) -> JSON:
    """`wire`: with every source-limited audience's view, for another process's replica."""
    body: JSON = {
        "id": market.id,
        "type": market.type.value,
        "line": _number(market.line),
        "status": market.status.value,
        "suspended": market.suspended,
        "margin": _number(market.margin),
        "result": result_json(market.result),
        "outcomes": [outcome_json(o, fmt) for o in market.outcomes],
    }
    if wire and market.views:
        body["views"] = [_view_json(v) for v in market.views]
    return body


def event_info_json(info: EventInfo) -> JSON:
    return {
        "id": info.id,
        "sport": info.sport,
        "league": info.league,
        "home_team": info.home_team,
        "away_team": info.away_team,
        "start_time": info.start_time,
    }


def incident_json(incident: Incident) -> JSON:
    return {
        "id": incident.id,
        "type": incident.type,
        "team": incident.team,
        "period": incident.period,
        "clock": incident.clock,
        "player": incident.player,
        "at": incident.at,
    }


def state_json(state: MatchState) -> JSON:
    return {
        "score": {"home": state.home_score, "away": state.away_score},
        "period": state.period,
        "clock": state.clock,
        "detail": state.detail,
        "updated_at": state.updated_at,
        "incidents": [incident_json(i) for i in state.incidents],
    }


def event_json(event: Event, fmt: OddsFormat | None = None, *, wire: bool = False) -> JSON:
    body = event_info_json(event.info)
    body["status"] = event.status.value
    body["seq"] = event.seq
    body["epoch"] = event.epoch
    body["updated_at"] = event.updated_at
    body["state"] = None if event.state is None else state_json(event.state)
    body["markets"] = [market_json(m, fmt, wire=wire) for m in event.markets]
    return body


def delta_json(delta: Delta, *, wire: bool = False) -> JSON:
    body: JSON = {
        "event_id": delta.event_id,
        "sport": delta.sport,
        "seq": delta.seq,
        "epoch": delta.epoch,
        "timestamp": delta.timestamp,
        "source": delta.source,
        "reason": delta.reason,
        "market_id": delta.market_id,
    }
    if delta.market_id is not None:
        body["market_type"] = delta.market_type.value if delta.market_type else None
        body["line"] = _number(delta.line)
        body["suspended"] = delta.suspended
        body["margin"] = _number(delta.margin)
        body["market_changed"] = delta.market_changed
        body["market_status"] = delta.market_status.value if delta.market_status else None
        body["result"] = result_json(delta.result)
        body["outcomes"] = [outcome_json(o) for o in delta.outcomes]
        if wire and delta.views:
            body["views"] = [_view_json(v) for v in delta.views]
    if delta.status is not None:
        body["status"] = delta.status.value
    if delta.event is not None:
        body["event"] = event_info_json(delta.event)
    if delta.state is not None:
        body["state"] = state_json(delta.state)
    return body


def ws_delta_json(delta: Delta, conflated: bool = False) -> JSON:
    """A delta as the partner `/ws` protocol sends it; the event's description goes under `fixture`."""
    fields = delta_json(delta)
    info = fields.pop("event", None)
    body: JSON = {"event": "odds.updated" if delta.market_id is not None else "event.updated", **fields}
    if info is not None:
        body["fixture"] = info
    if conflated:
        body["conflated"] = True
    return body


def plain_json(content: object) -> Any:
    """`content` as JSON values only (times as ISO 8601 `...Z` text, decimals as text), for a
    GraphQL `JSON` field, which reads the same as the REST body."""
    return orjson.loads(orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS, default=str))
