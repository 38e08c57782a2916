"""The REST bodies as the OpenAPI document describes them: what each route answers, field by field.

These models are documentation, not the code path: routes serialize with `schema.render` and the
services' own `json()`; the contract tests (schemathesis against a real server) hold the two to
the same shape. A field the server leaves out rather than sends as null is typed
`X | SkipJsonSchema[None] = absent()`, so the schema says "absent or X" and never "null"."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from schema import text
from schema.insight import Insight
from schema.model import EventStatus, MarketStatus, MarketType

# Amounts are sent as exact decimal text, "10.00", never as a float.
Amount = str
# JSON objects whose keys depend on the data (a per-market snapshot, an alert's measurements).
Details = dict[str, Any]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str | None = None, examples: list[Any] | None = None) -> Any:
    """A field the server leaves out rather than sends as null: its schema has no null and no default."""
    return Field(default=None, description=description, examples=examples, json_schema_extra=_no_default)


class Body(BaseModel):
    # Additional fields are allowed: a client must ignore what it does not know, so adding a field
    # is not a breaking change.
    model_config = ConfigDict(frozen=True)


# Errors and paging


class ErrorDetail(Body):
    """A refusal: `code` from the contract's table, a message a human can act on, and for some
    codes more fields (`current_odds` for PRICE_CHANGED, `limit` for RISK_LIMIT, `retry_after`)."""

    code: str
    message: str


class ErrorResponse(Body):
    """The one error shape of every interface."""

    error: ErrorDetail


class Pagination(Body):
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)
    total: int = Field(ge=0)


# Odds


class Odds(Body):
    """The three display forms; with `?format=` only the one asked for."""

    decimal: float | SkipJsonSchema[None] = absent(examples=[2.1])
    american: str | SkipJsonSchema[None] = absent(examples=["+110", "-120"])
    fractional: str | SkipJsonSchema[None] = absent(examples=["11/10"])


class Outcome(Body):
    id: str
    name: str
    odds: Odds
    implied_probability: float
    updated_at: datetime
    source_count: int
    confidence: float
    sources: dict[str, float] = Field(description="each source's decimal odds")
    flags: list[str]


class MarketResult(Body):
    id: str
    winners: list[str]
    void: bool
    outcomes: dict[str, str] = Field(description="outcome id -> won, lost, void, half_won, half_lost or dead_heat")
    dead_heat_factor: str | None
    settled_at: datetime


class Market(Body):
    id: str = Field(examples=["moneyline", "spread:-3.5"])
    type: MarketType
    line: float | None
    status: MarketStatus
    suspended: bool
    margin: float | None
    result: MarketResult | None
    outcomes: list[Outcome]


class Score(Body):
    home: int
    away: int


class Incident(Body):
    id: str
    type: str
    team: str | None
    period: str | None
    clock: str | None
    player: str | None
    at: datetime


class MatchState(Body):
    score: Score
    period: str | None
    clock: str | None
    detail: str | None
    updated_at: datetime
    incidents: list[Incident]


class Event(Body):
    id: str = Field(examples=["49ers-ravens-2026-03-23"])
    sport: str
    league: str
    home_team: str
    away_team: str
    start_time: datetime
    status: EventStatus
    seq: int = Field(description="increases by one per change of this event")
    epoch: str = Field(description="a new epoch starts when the sequence starts over")
    updated_at: datetime
    state: MatchState | None
    markets: list[Market]


class EventPage(Body):
    schema_version: str
    data: list[Event]
    pagination: Pagination


class EventReply(Body):
    schema_version: str
    data: Event


class EventAsOf(Body):
    schema_version: str
    as_of: datetime
    data: Event


class Source(Body):
    source: str
    up: bool
    last_seen: datetime
    silent_seconds: float
    updates: int
    accuracy_weight: float


class SourceList(Body):
    data: list[Source]


class Rejection(Body):
    index: int
    code: str
    reason: str
    path: str | SkipJsonSchema[None] = absent()


class IngestReply(Body):
    accepted: int
    rejected: list[Rejection]
    deltas: int


# Betting


class Bet(Body):
    bet_id: str
    status: str = Field(description="accepted, then won, lost, void, half_won, half_lost or dead_heat")
    event_id: str
    market_id: str
    outcome_id: str
    odds: float
    stake: Amount
    potential_payout: Amount
    accepted_at: datetime
    result: str | None
    payout: Amount | None


class BetWithContext(Bet):
    context: Details | None = Field(description="what the bettor was shown at placement")


class BetPage(Body):
    data: list[Bet]
    pagination: Pagination


class Tally(Body):
    bets: int
    staked: Amount
    returned: Amount
    pnl: Amount
    roi: float | None
    win_rate: float | None


class Report(Body):
    """PnL, ROI and win rate of settled bets, overall, by sport and by market type."""

    overall: Tally
    by_sport: dict[str, Tally]
    by_market: dict[str, Tally]


class OwnReport(Report):
    sub: str


class ExposureLine(Body):
    event_id: str
    market_id: str
    outcome_id: str
    stakes: Amount
    liability: Amount
    bets: int


class ExposureList(Body):
    data: list[ExposureLine]


class Settlement(Body):
    """A market's result as applied: every open bet settled once, and what was paid."""

    id: str
    event_id: str
    market_id: str
    outcomes: dict[str, str]
    dead_heat_factor: str | None
    bets: int
    paid: Amount
    created_at: datetime
    rolled_back_at: datetime | None


class Wallet(Body):
    sub: str
    available: Amount
    locked: Amount


class Audience(Body):
    view: str | None
    sources: list[str] | None
    markets: list[str] | None


class ShownPrice(Body):
    book_odds: str | None
    odds_updated_at: str | None
    flags: list[str] | None
    source_count: int | None
    margin: str | None
    seq: int | None
    epoch: str | None


class Shown(Body):
    seq: int | None
    market: Market | None


class BetContext(Body):
    """What the bettor's audience was shown at placement: the price, the market, the sources and
    the overrides in force."""

    bet: Bet
    accepted_at: datetime
    audience: Audience | None
    region: str | None
    age_verified: bool | None
    price: ShownPrice
    sources: dict[str, str] | None
    overrides: list[Details] | None
    held_seconds: float | None
    shown: Shown


class BetContextReply(Body):
    data: BetContext


# The control layer


class OverrideTarget(Body):
    """Any prefix of sport > event > market > outcome (a sport's scope may name a league)."""

    sport: str | SkipJsonSchema[None] = absent()
    league: str | SkipJsonSchema[None] = absent()
    event_id: str | SkipJsonSchema[None] = absent()
    market_id: str | SkipJsonSchema[None] = absent()
    outcome_id: str | SkipJsonSchema[None] = absent()


class Override(Body):
    id: str
    action: Literal["suspend", "resume", "margin", "price", "rollback"]
    scope: OverrideTarget
    value: float | None
    reason: str
    actor: str
    created_at: datetime
    active: bool
    replaces: str | None
    target_id: str | None = Field(description="for a rollback, the override it undid")
    ended_at: datetime | None
    before: Details | None = Field(description="the markets it covers before, by event/market")
    after: Details | None


class OverrideMade(Override):
    deltas: int = Field(description="how many deltas it sent")


class OverridePage(Body):
    data: list[Override]
    pagination: Pagination


class Alert(Body):
    id: str
    rule: str
    kind: str
    raised_at: datetime
    message: str
    event_id: str | None
    market_id: str | None
    outcome_id: str | None
    source: str | None
    details: Details


class AlertPage(Body):
    data: list[Alert]
    pagination: Pagination


class WebhookSport(Body):
    sport: str
    league: str | SkipJsonSchema[None] = absent()


class Webhook(Body):
    """A registered webhook; its secret is never sent back."""

    id: str
    url: str
    events: list[str]
    sports: list[WebhookSport] | None
    event_ids: list[str] | None
    owner: str
    owner_sports: list[str] | None
    owner_region: str | None
    created_at: datetime
    active: bool


class WebhookList(Body):
    data: list[Webhook]


class Delivery(Body):
    id: str
    webhook_id: str
    event: str
    payload: Details
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryPage(Body):
    data: list[Delivery]
    pagination: Pagination


# Insights


class InsightReply(Body):
    schema_version: str
    data: Insight


class InsightRecord(Body):
    """An insight as it was served: who wrote it, from which prompt, and what it cost."""

    id: str
    event_id: str
    sport: str
    generator: str
    model: str | None
    prompt_hash: str | None
    fallback_reason: str | None
    odds_seq: int
    output: Details
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime


class InsightLog(Body):
    data: list[InsightRecord]


class CalibrationBin(Body):
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


class Accuracy(Body):
    generator: str
    sport: str
    forecasts: int
    brier: float
    log_loss: float
    calibration: list[CalibrationBin]


class AccuracyList(Body):
    data: list[Accuracy]


# Operations


class Health(Body):
    status: Literal["ok"]


class Readiness(Body):
    """`unavailable` (503) only when the database or broadcast is down."""

    status: Literal["ready", "degraded", "unavailable"]
    checks: dict[str, Details]


class ApiDocument(Body):
    """`/openapi.json`: this document."""

    openapi: str
    info: Details
    paths: Details
    components: Details


# Request bodies not (yet) among the typed commands of `schema.commands`.


class QuotedOutcome(BaseModel):
    id: str | int
    odds: float | str | None = Field(description="decimal odds; null with `suspended: true`")
    suspended: bool | SkipJsonSchema[None] = absent()


class Update(BaseModel):
    """One source's prices for one market of one event (or, without `market`, the event alone)."""

    sport: str = Field(max_length=text.SPORT, examples=["NFL"])
    league: str | None = Field(default=None, max_length=text.LEAGUE)
    home_team: str = Field(max_length=text.TEAM)
    away_team: str = Field(max_length=text.TEAM)
    start_time: datetime
    status: str | None = Field(default=None, examples=["scheduled", "live", "finished"])
    market: str | None = Field(default=None, examples=["moneyline", "spread", "total", "1x2"])
    line: float | None = None
    outcomes: list[QuotedOutcome] = Field(default_factory=list)
    suspended: bool = False
    timestamp: datetime
    state: Details | None = Field(default=None, description="the match state: score, period, clock, incidents")


class IngestBatch(BaseModel):
    """`POST /api/v2/ingest`: the canonical format; each update is taken or rejected on its own."""

    source: str = Field(max_length=text.SOURCE)
    updates: list[Update]
