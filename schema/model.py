"""Canonical events, markets, outcomes, source quotes and deltas."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from schema.match import MatchState


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    FINISHED = "finished"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"

    @property
    def closed(self) -> bool:
        return self in (EventStatus.FINISHED, EventStatus.CANCELLED)


class MarketType(StrEnum):
    MONEYLINE = "moneyline"
    THREE_WAY = "1x2"
    SPREAD = "spread"
    TOTAL = "total"


OUTCOMES: dict[MarketType, tuple[str, ...]] = {
    MarketType.MONEYLINE: ("home", "away"),
    MarketType.THREE_WAY: ("home", "draw", "away"),
    MarketType.SPREAD: ("home", "away"),
    MarketType.TOTAL: ("over", "under"),
}
LINE_REQUIRED = frozenset({MarketType.SPREAD, MarketType.TOTAL})

# A price of None means the source suspended that selection.
Prices = tuple[tuple[str, Decimal | None], ...]

# The objects made once per update (quotes, outcomes, deltas) are not frozen: a frozen dataclass
# pays object.__setattr__ per field on every construction. They are never mutated after creation.


@dataclass(slots=True)
class SourceQuote:
    """One source's prices for one market, with names as the vendor wrote them.

    `market` is None for a message that only reports the event (its status or start time).
    """

    source: str
    sport: str
    league: str | None
    home_team: str
    away_team: str
    start_time: datetime
    status: str | None
    market: str | None
    line: Decimal | None
    prices: Prices
    suspended: bool
    timestamp: datetime
    state: MatchState | None = None


@dataclass(slots=True, frozen=True)
class EventInfo:
    """The canonical identity and description of an event."""

    id: str
    sport: str
    league: str
    home_team: str
    away_team: str
    start_time: datetime


@dataclass(slots=True)
class MarketQuote:
    """A source quote after normalization: canonical ids throughout."""

    source: str
    event: EventInfo
    status: EventStatus | None
    market_id: str | None
    market_type: MarketType | None
    line: Decimal | None
    prices: Prices
    suspended: bool
    timestamp: datetime
    state: MatchState | None = None


def market_id(market_type: MarketType, line: Decimal | None) -> str:
    """`moneyline`, `spread:-3.5`, `total:47.5`."""
    if line is None:
        return market_type.value
    return f"{market_type.value}:{format_line(line)}"


def format_line(line: Decimal) -> str:
    text = format(line.normalize(), "f")
    return "0" if text in {"-0", "+0"} else text


@dataclass(slots=True)
class Outcome:
    id: str
    name: str
    odds: Decimal
    updated_at: datetime
    source_count: int
    confidence: float
    sources: dict[str, Decimal]
    flags: tuple[str, ...]


class MarketStatus(StrEnum):
    OPEN = "open"
    SUSPENDED = "suspended"
    SETTLED = "settled"


WINNING_RESULTS = frozenset({"won", "half_won", "dead_heat"})


@dataclass(slots=True, frozen=True)
class MarketResult:
    """How a market was settled: each outcome's result (won, lost, void, half_won, half_lost,
    dead_heat) and the dead-heat factor, under the settlement's id."""

    id: str
    outcomes: tuple[tuple[str, str], ...]
    dead_heat_factor: Decimal | None
    settled_at: datetime

    @property
    def winners(self) -> tuple[str, ...]:
        return tuple(o for o, result in self.outcomes if result in WINNING_RESULTS)

    @property
    def void(self) -> bool:
        return all(result == "void" for _, result in self.outcomes)


def market_status(suspended: bool | None, result: MarketResult | None) -> MarketStatus:
    if result is not None:
        return MarketStatus.SETTLED
    return MarketStatus.SUSPENDED if suspended else MarketStatus.OPEN


@dataclass(slots=True, frozen=True)
class MarketView:
    """A market as an audience limited to some sources is shown it (its region's consensus, with
    the same overrides and flags as everyone's). In a Market, every outcome; in a Delta, the
    outcomes that changed, `market_changed` as for the delta itself."""

    name: str
    suspended: bool
    margin: Decimal | None
    outcomes: tuple[Outcome, ...]
    market_changed: bool = False


@dataclass(slots=True, frozen=True)
class Market:
    id: str
    type: MarketType
    line: Decimal | None
    suspended: bool
    margin: Decimal | None
    outcomes: tuple[Outcome, ...]
    # The prices of each source-limited audience; what they are shown replaces the fields above.
    views: tuple[MarketView, ...] = ()
    result: MarketResult | None = None

    @property
    def status(self) -> MarketStatus:
        return market_status(self.suspended, self.result)


_TYPE_ORDER = {t: i for i, t in enumerate(MarketType)}
_OUTCOME_ORDER = {"home": 0, "draw": 1, "away": 2, "over": 0, "under": 1}


def market_order(market: Market) -> tuple[int, Decimal]:
    """Markets are served by type (moneyline, 1x2, spread, total), then by line."""
    return _TYPE_ORDER[market.type], market.line if market.line is not None else Decimal(0)


def outcome_order(outcome: Outcome) -> int:
    return _OUTCOME_ORDER.get(outcome.id, len(_OUTCOME_ORDER))


@dataclass(slots=True, frozen=True)
class Event:
    info: EventInfo
    status: EventStatus
    seq: int
    updated_at: datetime
    markets: tuple[Market, ...] = field(default=())
    state: MatchState | None = None
    # The event's sequence is (epoch, seq): a new epoch starts when the sequence starts over.
    epoch: str = ""


@dataclass(slots=True)
class Delta:
    """What one change did to one event: only the outcomes that changed, with the event's next seq.

    `event` is set when the event is new or its description changed, `status` when its status
    changed; `market_changed` when the market is new or its suspension or margin changed.
    """

    event_id: str
    sport: str
    seq: int
    timestamp: datetime
    source: str
    reason: str
    market_id: str | None = None
    market_type: MarketType | None = None
    line: Decimal | None = None
    suspended: bool | None = None
    margin: Decimal | None = None
    market_changed: bool = False
    outcomes: tuple[Outcome, ...] = ()
    status: EventStatus | None = None
    event: EventInfo | None = None
    # The match state when it changed, with only the new incidents.
    state: MatchState | None = None
    # Which run of the event's sequence `seq` counts in (see `Event.epoch`).
    epoch: str = ""
    # The market as each source-limited audience sees it, for the views this delta changed.
    views: tuple[MarketView, ...] = ()
    # Set on every delta of a settled market; a delta without it after one with it reopens the market.
    result: MarketResult | None = None

    @property
    def market_status(self) -> MarketStatus | None:
        return None if self.market_id is None else market_status(self.suspended, self.result)
