"""Reading back the JSON that `schema.render` writes: deltas and events crossing between processes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from schema.match import Incident, MatchState
from schema.model import Delta, Event, EventInfo, EventStatus, Market, MarketResult, MarketType, MarketView, Outcome

JSON = dict[str, Any]


def _decimal(value: float | int | str | None) -> Decimal | None:
    # repr of a float is the shortest text that round-trips, so 1.85 comes back as Decimal("1.85").
    return None if value is None else Decimal(repr(value) if isinstance(value, float) else str(value))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def outcome_from_json(body: JSON) -> Outcome:
    odds = _decimal(body["odds"]["decimal"])
    assert odds is not None
    return Outcome(
        body["id"],
        body["name"],
        odds,
        _time(body["updated_at"]),
        body["source_count"],
        body["confidence"],
        {name: Decimal(repr(price)) for name, price in body["sources"].items()},
        tuple(body["flags"]),
    )


def event_info_from_json(body: JSON) -> EventInfo:
    return EventInfo(
        body["id"], body["sport"], body["league"], body["home_team"], body["away_team"], _time(body["start_time"])
    )


def incident_from_json(body: JSON) -> Incident:
    return Incident(
        body["id"], body["type"], body["team"], body["period"], body["clock"], body["player"], _time(body["at"])
    )


def state_from_json(body: JSON) -> MatchState:
    return MatchState(
        body["score"]["home"],
        body["score"]["away"],
        body["period"],
        body["clock"],
        body["detail"],
        tuple(incident_from_json(i) for i in body["incidents"]),
        _time(body["updated_at"]),
    )


def result_from_json(body: JSON | None) -> MarketResult | None:
    if body is None:
        return None
    return MarketResult(
        body["id"],
        tuple((str(o), str(r)) for o, r in body["outcomes"].items()),
        None if body.get("dead_heat_factor") is None else Decimal(body["dead_heat_factor"]),
        _time(body["settled_at"]),
    )


def view_from_json(body: JSON) -> MarketView:
    return MarketView(
        body["name"],
        body["suspended"],
        _decimal(body["margin"]),
        tuple(outcome_from_json(o) for o in body["outcomes"]),
        body.get("market_changed", False),
    )


def delta_from_json(body: JSON) -> Delta:
    market_type = body.get("market_type")
    status = body.get("status")
    info = body.get("event")
    return Delta(
        body["event_id"],
        body["sport"],
        body["seq"],
        _time(body["timestamp"]),
        body["source"],
        body["reason"],
        market_id=body["market_id"],
        market_type=MarketType(market_type) if market_type else None,
        line=_decimal(body.get("line")),
        suspended=body.get("suspended"),
        margin=_decimal(body.get("margin")),
        market_changed=body.get("market_changed", False),
        outcomes=tuple(outcome_from_json(o) for o in body.get("outcomes", ())),
        status=EventStatus(status) if status else None,
        event=event_info_from_json(info) if info else None,
        state=state_from_json(body["state"]) if body.get("state") else None,
        epoch=str(body.get("epoch") or ""),
        views=tuple(view_from_json(v) for v in body.get("views", ())),
        result=result_from_json(body.get("result")),
    )


def market_from_json(body: JSON) -> Market:
    return Market(
        body["id"],
        MarketType(body["type"]),
        _decimal(body["line"]),
        body["suspended"],
        _decimal(body["margin"]),
        tuple(outcome_from_json(o) for o in body["outcomes"]),
        tuple(view_from_json(v) for v in body.get("views", ())),
        result_from_json(body.get("result")),
    )


def event_from_json(body: JSON) -> Event:
    return Event(
        event_info_from_json(body),
        EventStatus(body["status"]),
        body["seq"],
        _time(body["updated_at"]),
        tuple(market_from_json(m) for m in body["markets"]),
        state_from_json(body["state"]) if body.get("state") else None,
        str(body.get("epoch") or ""),
    )
