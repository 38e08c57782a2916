"""What an insight is written from: the event's live state, its match-winner market's probabilities
with the margin removed, and how they moved over a window, rebuilt from the audit log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from insights.sports import SportProfile, profile
from schema.errors import NotFound
from schema.match import Incident
from schema.model import Event, Market
from schema.odds import fair_probabilities


class NoWinnerMarket(NotFound):
    code = "NOT_FOUND"


@dataclass(slots=True, frozen=True)
class PricePoint:
    at: datetime
    probabilities: dict[str, float]


@dataclass(slots=True, frozen=True)
class InsightContext:
    event: Event
    profile: SportProfile
    market: Market
    # Oldest first: the prices as they stood when the window opened, each change since, and now.
    history: tuple[PricePoint, ...]
    window_seconds: int
    now: datetime

    @property
    def current(self) -> dict[str, float]:
        return self.history[-1].probabilities

    @property
    def start(self) -> dict[str, float]:
        return self.history[0].probabilities

    @property
    def window_start(self) -> datetime:
        return self.now - timedelta(seconds=self.window_seconds)

    def team(self, side: str | None) -> str:
        info = self.event.info
        return {"home": info.home_team, "away": info.away_team, "draw": "the draw"}.get(side or "", "a team")

    def incidents(self) -> tuple[Incident, ...]:
        return () if self.event.state is None else self.event.state.incidents

    def probability_at(self, at: datetime) -> dict[str, float]:
        """The probabilities served at `at` (the window's first point for anything earlier)."""
        found = self.history[0].probabilities
        for point in self.history:
            if point.at > at:
                break
            found = point.probabilities
        return found


def winner_market(event: Event, sport: SportProfile) -> Market:
    for market_type in sport.winner_markets:
        for market in event.markets:
            if market.type is market_type and not market.suspended and market.outcomes:
                return market
    raise NoWinnerMarket(f"event {event.info.id} has no open match-winner market to write an insight from")


def _fair(odds: dict[str, Decimal]) -> dict[str, float]:
    return {outcome: float(p) for outcome, p in fair_probabilities(odds).items()}


def build_context(
    event: Event, prices: Iterable[tuple[datetime, str, Decimal]], window_seconds: int, now: datetime
) -> InsightContext:
    """`prices`: (time, outcome, odds) of the winner market from the window's start, as
    `AuditRepository.prices_between` gives them; the live market is the last point."""
    sport = profile(event.info.sport)
    market = winner_market(event, sport)
    outcomes = {o.id for o in market.outcomes}
    odds: dict[str, Decimal] = {}
    points: list[PricePoint] = []
    for at, outcome, price in sorted(prices, key=lambda p: p[0]):
        if outcome not in outcomes:
            continue
        odds[outcome] = price
        if odds.keys() == outcomes:
            point = PricePoint(at, _fair(odds))
            if points and points[-1].at == at:
                points[-1] = point
            else:
                points.append(point)
    live = PricePoint(now, _fair({o.id: o.odds for o in market.outcomes}))
    if not points or points[-1].probabilities != live.probabilities:
        points.append(live)
    return InsightContext(event, sport, market, tuple(points), window_seconds, now)
