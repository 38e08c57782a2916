"""Reading a vendor's match state (score, period, clock, incidents) from a JSON object.

The wire shape, shared by the JSON adapters:
`{"score": {"home": 1, "away": 0}, "period": "2H", "clock": "62:14", "detail": "...",
  "incidents": [{"id": "...", "type": "red_card", "team": "home", "period": "2H", "clock": "62:00",
  "player": "..."}]}`. Which incident types a sport knows is checked when the quote is normalized.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from feeds.adapters.base import FieldError
from schema.match import SIDES, Incident, MatchState

MAX_INCIDENTS = 200


def parse_state(value: object, at: datetime) -> MatchState | None:
    """None when there is no state; raises FieldError naming the bad field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldError("'state' must be an object")
    score = value.get("score", {"home": 0, "away": 0})
    if not isinstance(score, dict):
        raise FieldError("'state.score' must be an object with 'home' and 'away'")
    incidents = value.get("incidents", [])
    if not isinstance(incidents, list) or len(incidents) > MAX_INCIDENTS:
        raise FieldError(f"'state.incidents' must be a list of at most {MAX_INCIDENTS} incidents")
    return MatchState(
        _score(score, "home"),
        _score(score, "away"),
        _label(value, "period", "state.period"),
        _label(value, "clock", "state.clock"),
        _label(value, "detail", "state.detail", 200),
        tuple(_incident(item, f"state.incidents[{n}]", at) for n, item in enumerate(incidents)),
        at,
    )


def _score(score: Mapping[str, object], side: str) -> int:
    value = score.get(side)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
        raise FieldError(f"'state.score.{side}' must be a whole number from 0")
    return value


def _label(item: Mapping[str, object], key: str, path: str, limit: int = 40) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise FieldError(f"'{path}' must be text of at most {limit} characters")
    return value.strip()


def _incident(item: object, path: str, at: datetime) -> Incident:
    if not isinstance(item, dict):
        raise FieldError(f"'{path}' must be an object")
    kind = _label(item, "type", f"{path}.type")
    if kind is None:
        raise FieldError(f"'{path}.type' is required")
    kind = kind.lower()
    team = item.get("team")
    if team is not None and team not in SIDES:
        raise FieldError(f"'{path}.team' must be 'home' or 'away'")
    period = _label(item, "period", f"{path}.period")
    clock = _label(item, "clock", f"{path}.clock")
    player = _label(item, "player", f"{path}.player", 100)
    given = _label(item, "id", f"{path}.id", 100)
    # Vendors resend incidents with every update: without an id, the content identifies one.
    derived = hashlib.sha1(repr((kind, team, period, clock, player)).encode(), usedforsecurity=False).hexdigest()[:16]
    return Incident(given or derived, kind, team if isinstance(team, str) else None, period, clock, player, at)
