"""The GraphQL types of the canonical model (strawberry), built from the plain model objects.

An object's `id` names one thing in the whole graph, as normalizing client caches (Apollo's, urql's
Graphcache) key objects by `__typename` and `id`: the ids that repeat from event to event (markets,
outcomes, incidents) are prefixed with their event's (`<event_id>/<market_id>/<outcome_id>`), and the
short id that REST and `/ws` use stays a field of its own (`marketId`, `outcomeId`, `incidentId`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum

import strawberry

from schema.insight import Insight, Probabilities
from schema.match import MatchState
from schema.model import Delta, Event, Market, MarketResult, Outcome
from schema.odds import formats, implied_probability


@strawberry.type(name="Odds")
class OddsGQL:
    decimal: float
    american: str
    fractional: str


@strawberry.type(name="SourcePrice")
class SourcePriceGQL:
    source: str
    decimal: float


@strawberry.type(name="Outcome")
class OutcomeGQL:
    id: str = strawberry.field(description="Unique in the graph: `<event_id>/<market_id>/<outcome_id>`")
    outcome_id: str = strawberry.field(description="`home`, `draw`, `away`, `over` or `under`, as REST and /ws")
    name: str
    odds: OddsGQL
    implied_probability: float
    updated_at: datetime
    source_count: int
    confidence: float
    sources: list[SourcePriceGQL]
    flags: list[str]


@strawberry.type(name="Market")
class MarketGQL:
    id: str = strawberry.field(description="Unique in the graph: `<event_id>/<market_id>`")
    market_id: str = strawberry.field(description="`moneyline`, `spread:-3.5`, ..., as REST and /ws")
    type: str
    line: float | None
    status: str = strawberry.field(description="open, suspended or settled")
    suspended: bool
    margin: float | None
    result: MarketResultGQL | None = strawberry.field(description="How the market was settled; null until it is")
    outcomes: list[OutcomeGQL]


@strawberry.type(name="OutcomeResult")
class OutcomeResultGQL:
    outcome_id: str
    result: str = strawberry.field(description="won, lost, void, half_won, half_lost or dead_heat")


@strawberry.type(name="MarketResult", description="How a market was settled.")
class MarketResultGQL:
    id: str = strawberry.field(description="The settlement's id (`POST /api/v2/results/{id}/rollback`)")
    winners: list[str]
    void: bool
    outcomes: list[OutcomeResultGQL]
    dead_heat_factor: str | None
    settled_at: datetime


def result_gql(result: MarketResult | None) -> MarketResultGQL | None:
    if result is None:
        return None
    return MarketResultGQL(
        id=result.id,
        winners=list(result.winners),
        void=result.void,
        outcomes=[OutcomeResultGQL(outcome_id=o, result=r) for o, r in result.outcomes],
        dead_heat_factor=None if result.dead_heat_factor is None else str(result.dead_heat_factor),
        settled_at=result.settled_at,
    )


@strawberry.type(name="Incident")
class IncidentGQL:
    id: str = strawberry.field(description="Unique in the graph: `<event_id>/<incident_id>`")
    incident_id: str = strawberry.field(description="The vendor's id, or one derived from the incident")
    type: str
    team: str | None
    period: str | None
    clock: str | None
    player: str | None
    at: datetime


@strawberry.type(name="Score")
class ScoreGQL:
    home: int
    away: int


@strawberry.type(name="MatchState", description="Score, period, clock and incidents, as the feeds report them.")
class MatchStateGQL:
    score: ScoreGQL
    period: str | None
    clock: str | None
    detail: str | None
    updated_at: datetime
    incidents: list[IncidentGQL] = strawberry.field(
        description="On an event its latest incidents; on a delta only the new ones."
    )


@strawberry.type(name="Event")
class EventGQL:
    id: str
    sport: str
    league: str
    home_team: str
    away_team: str
    start_time: datetime
    status: str
    seq: int
    updated_at: datetime
    state: MatchStateGQL | None
    market_list: strawberry.Private[list[MarketGQL]]

    @strawberry.field(description="Markets, all or only these types or ids (`spread` or `spread:-3.5`).")
    def markets(self, types: list[str] | None = None) -> list[MarketGQL]:
        if types is None:
            return self.market_list
        wanted = set(types)
        return [m for m in self.market_list if m.type in wanted or m.market_id in wanted]


@strawberry.enum(name="OddsDeltaKind")
class DeltaKind(Enum):
    DELTA = "DELTA"
    SNAPSHOT = "SNAPSHOT"


@strawberry.type(name="OddsDelta", description="One change to one event, with the event's next seq.")
class OddsDeltaGQL:
    event_id: str
    sport: str
    seq: int
    epoch: str = strawberry.field(
        description="The run of the event's sequence `seq` counts in; a new epoch means the sequence started over"
    )
    timestamp: datetime
    source: str
    reason: str
    market_id: str | None
    market_type: str | None
    line: float | None
    suspended: bool | None
    margin: float | None
    market_status: str | None = strawberry.field(description="open, suspended or settled (market deltas)")
    result: MarketResultGQL | None = strawberry.field(description="Set on every delta of a settled market")
    status: str | None
    outcomes: list[OutcomeGQL]
    state: MatchStateGQL | None
    conflated: bool = strawberry.field(
        default=False, description="Several deltas merged because this client fell behind; seq is the latest."
    )
    kind: DeltaKind = strawberry.field(
        default=DeltaKind.DELTA,
        description="DELTA: one change. SNAPSHOT: the whole event as this subscription shows it (`markets`, "
        "`status`, `state`) at `seq`, replacing what the client held of it.",
    )
    reset: bool = strawberry.field(
        default=False,
        description="A SNAPSHOT that replaces a state which no longer follows on: `since` was older than the "
        "history, from another epoch, or deltas were lost to the server.",
    )
    markets: list[MarketGQL] | None = strawberry.field(
        default=None, description="On a SNAPSHOT, every market of the event the subscription selects; null on a DELTA."
    )


@strawberry.type(name="Source")
class SourceGQL:
    name: str
    up: bool
    last_seen: datetime
    updates: int
    accuracy_weight: float


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def outcome_gql(outcome: Outcome, market_key: str) -> OutcomeGQL:
    """`market_key` is the market's graph id, `<event_id>/<market_id>`."""
    decimal, american, fractional = formats(outcome.odds)
    return OutcomeGQL(
        id=f"{market_key}/{outcome.id}",
        outcome_id=outcome.id,
        name=outcome.name,
        odds=OddsGQL(decimal=decimal, american=american, fractional=fractional),
        implied_probability=round(float(implied_probability(outcome.odds)), 4),
        updated_at=outcome.updated_at,
        source_count=outcome.source_count,
        confidence=outcome.confidence,
        sources=[SourcePriceGQL(source=name, decimal=float(odds)) for name, odds in outcome.sources.items()],
        flags=list(outcome.flags),
    )


def market_gql(market: Market, event_id: str) -> MarketGQL:
    key = f"{event_id}/{market.id}"
    return MarketGQL(
        id=key,
        market_id=market.id,
        type=market.type.value,
        line=_float(market.line),
        status=market.status.value,
        suspended=market.suspended,
        margin=_float(market.margin),
        result=result_gql(market.result),
        outcomes=[outcome_gql(o, key) for o in market.outcomes],
    )


def state_gql(state: MatchState | None, event_id: str) -> MatchStateGQL | None:
    if state is None:
        return None
    return MatchStateGQL(
        score=ScoreGQL(home=state.home_score, away=state.away_score),
        period=state.period,
        clock=state.clock,
        detail=state.detail,
        updated_at=state.updated_at,
        incidents=[
            IncidentGQL(
                id=f"{event_id}/{i.id}",
                incident_id=i.id,
                type=i.type,
                team=i.team,
                period=i.period,
                clock=i.clock,
                player=i.player,
                at=i.at,
            )
            for i in state.incidents
        ],
    )


def event_gql(event: Event) -> EventGQL:
    info = event.info
    return EventGQL(
        id=info.id,
        sport=info.sport,
        league=info.league,
        home_team=info.home_team,
        away_team=info.away_team,
        start_time=info.start_time,
        status=event.status.value,
        seq=event.seq,
        updated_at=event.updated_at,
        state=state_gql(event.state, info.id),
        market_list=[market_gql(m, info.id) for m in event.markets],
    )


def events_gql(events: Iterable[Event]) -> list[EventGQL]:
    return [event_gql(e) for e in events]


def delta_gql(delta: Delta, conflated: bool = False) -> OddsDeltaGQL:
    # The same graph ids as the event's: a client cache merges a delta's outcomes into the event it holds.
    market_key = f"{delta.event_id}/{delta.market_id}"
    return OddsDeltaGQL(
        event_id=delta.event_id,
        sport=delta.sport,
        seq=delta.seq,
        epoch=delta.epoch,
        timestamp=delta.timestamp,
        source=delta.source,
        reason=delta.reason,
        market_id=delta.market_id,
        market_type=delta.market_type.value if delta.market_type else None,
        line=_float(delta.line),
        suspended=delta.suspended,
        margin=_float(delta.margin),
        market_status=delta.market_status.value if delta.market_status else None,
        result=result_gql(delta.result),
        status=delta.status.value if delta.status else None,
        outcomes=[outcome_gql(o, market_key) for o in delta.outcomes],
        state=state_gql(delta.state, delta.event_id),
        conflated=conflated,
    )


def snapshot_gql(event: Event, reset: bool) -> OddsDeltaGQL:
    """The event as one delta-shaped payload (`kind: SNAPSHOT`); `conflated` when it is a reset, as
    its seq does not follow on from the one the client saw before."""
    info = event.info
    return OddsDeltaGQL(
        event_id=info.id,
        sport=info.sport,
        seq=event.seq,
        epoch=event.epoch,
        timestamp=event.updated_at,
        # The gateway's own source name (the book's for the deltas it makes itself).
        source="oddsgate",
        reason="snapshot",
        market_id=None,
        market_type=None,
        line=None,
        suspended=None,
        margin=None,
        market_status=None,
        result=None,
        status=event.status.value,
        outcomes=[],
        state=state_gql(event.state, info.id),
        conflated=reset,
        kind=DeltaKind.SNAPSHOT,
        reset=reset,
        markets=[market_gql(m, info.id) for m in event.markets],
    )


@strawberry.type(name="WinProbability", description="Probabilities of home, away and (football) the draw.")
class ProbabilitiesGQL:
    home: float
    away: float
    draw: float | None


@strawberry.type(name="ModelProbability", description="A language model's own estimate: not the market's.")
class ModelProbabilityGQL(ProbabilitiesGQL):
    basis: str
    model: str


@strawberry.type(name="ProbabilityChange")
class ProbabilityChangeGQL:
    outcome: str
    change: float


@strawberry.type(name="ProbabilityShift", description="How the market's probabilities moved over the window.")
class ProbabilityShiftGQL:
    window_seconds: int
    start: ProbabilitiesGQL
    end: ProbabilitiesGQL
    change: list[ProbabilityChangeGQL]


@strawberry.type(name="KeyEvent")
class KeyEventGQL:
    type: str
    team: str | None
    period: str | None
    clock: str | None
    description: str


@strawberry.type(name="Insight", description="A match insight, validated against its JSON schema before serving.")
class InsightGQL:
    event_id: str
    sport: str
    summary: str
    key_events: list[KeyEventGQL]
    win_probability: ProbabilitiesGQL = strawberry.field(description="The market's, with the margin removed.")
    probability_shift: ProbabilityShiftGQL | None
    momentum: str
    predictive_notes: list[str]
    model_probability: ModelProbabilityGQL | None
    generator: str = strawberry.field(description="heuristic, or llm:<model>")
    fallback_reason: str | None = strawberry.field(description="Why a language model's answer was not used.")
    created_at: datetime
    odds_seq: int


def _probabilities(p: Probabilities) -> ProbabilitiesGQL:
    return ProbabilitiesGQL(home=p.home, away=p.away, draw=p.draw)


def insight_gql(insight: Insight) -> InsightGQL:
    shift, model = insight.probability_shift, insight.model_probability
    return InsightGQL(
        event_id=insight.event_id,
        sport=insight.sport,
        summary=insight.summary,
        key_events=[
            KeyEventGQL(type=k.type, team=k.team, period=k.period, clock=k.clock, description=k.description)
            for k in insight.key_events
        ],
        win_probability=_probabilities(insight.win_probability),
        probability_shift=None
        if shift is None
        else ProbabilityShiftGQL(
            window_seconds=shift.window_seconds,
            start=_probabilities(shift.start),
            end=_probabilities(shift.end),
            change=[ProbabilityChangeGQL(outcome=o, change=c) for o, c in shift.change.items()],
        ),
        momentum=insight.momentum,
        predictive_notes=list(insight.predictive_notes),
        model_probability=None
        if model is None
        else ModelProbabilityGQL(
            home=model.home, away=model.away, draw=model.draw, basis=model.basis, model=model.model
        ),
        generator=insight.generator,
        fallback_reason=insight.fallback_reason,
        created_at=insight.created_at,
        odds_seq=insight.odds_seq,
    )
