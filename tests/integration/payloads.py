"""Request bodies shared by the integration tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def now_iso(offset: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")


def update(
    home: float = 1.85,
    away: float = 2.10,
    *,
    market: str = "moneyline",
    line: float | None = None,
    home_team: str = "San Francisco 49ers",
    away_team: str = "Baltimore Ravens",
    sport: str = "NFL",
    league: str = "NFL",
    status: str = "live",
    start_time: str = "2026-03-23T20:20:00Z",
    timestamp: str | None = None,
) -> dict[str, Any]:
    ids = ("over", "under") if market == "total" else ("home", "away")
    return {
        "sport": sport,
        "league": league,
        "home_team": home_team,
        "away_team": away_team,
        "start_time": start_time,
        "status": status,
        "market": market,
        "line": line,
        "outcomes": [{"id": ids[0], "odds": home}, {"id": ids[1], "odds": away}],
        "timestamp": timestamp or now_iso(),
    }


def batch(source: str, *updates: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "updates": list(updates)}
