"""Match state: the score, period, clock and incidents that explain why prices move.

Each sport has its own incident vocabulary; a feed reporting an incident outside it is refused,
so insights and subscribers only ever see incidents they can describe.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime

INCIDENTS: dict[str, frozenset[str]] = {
    "football": frozenset(
        {
            "goal",
            "own_goal",
            "penalty_goal",
            "penalty_missed",
            "red_card",
            "yellow_card",
            "injury",
            "substitution",
            "var_review",
            "kickoff",
            "half_time",
            "full_time",
        }
    ),
    "american_football": frozenset(
        {
            "touchdown",
            "field_goal",
            "extra_point",
            "two_point_conversion",
            "safety",
            "interception",
            "fumble",
            "turnover_on_downs",
            "injury",
            "timeout",
            "kickoff",
            "end_of_quarter",
            "half_time",
        }
    ),
    "basketball": frozenset(
        {
            "field_goal",
            "three_pointer",
            "free_throw",
            "foul",
            "technical_foul",
            "foul_out",
            "injury",
            "timeout",
            "scoring_run",
            "end_of_quarter",
            "half_time",
        }
    ),
    "tennis": frozenset(
        {
            "break_of_serve",
            "ace",
            "double_fault",
            "game_won",
            "set_won",
            "tiebreak",
            "injury",
            "medical_timeout",
            "retirement",
        }
    ),
    "ice_hockey": frozenset(
        {
            "goal",
            "power_play",
            "penalty",
            "penalty_shot",
            "empty_net",
            "pulled_goalie",
            "injury",
            "timeout",
            "end_of_period",
        }
    ),
    "baseball": frozenset(
        {
            "home_run",
            "run_scored",
            "strikeout",
            "walk",
            "error",
            "pitching_change",
            "injury",
            "end_of_inning",
        }
    ),
}
SIDES = ("home", "away")
# The event keeps its latest incidents; older ones stay in the audit log.
KEPT_INCIDENTS = 50


@dataclass(slots=True, frozen=True)
class Incident:
    """Something that happened in the match; `id` is the vendor's, or derived from its content."""

    id: str
    type: str
    team: str | None
    period: str | None
    clock: str | None
    player: str | None
    at: datetime


@dataclass(slots=True, frozen=True)
class MatchState:
    """The live state of a match. On a delta, `incidents` holds only the new ones; on an event,
    the latest `KEPT_INCIDENTS`."""

    home_score: int
    away_score: int
    period: str | None
    clock: str | None
    detail: str | None
    incidents: tuple[Incident, ...]
    updated_at: datetime

    def same_board(self, other: MatchState) -> bool:
        return (self.home_score, self.away_score, self.period, self.clock, self.detail) == (
            other.home_score,
            other.away_score,
            other.period,
            other.clock,
            other.detail,
        )


def merge_state(
    current: MatchState | None, report: MatchState, seen: Collection[str] = ()
) -> tuple[MatchState, MatchState] | None:
    """(the event's new state, the change to publish), or None when the report changes nothing.

    `seen`: ids of every incident the event ever had, including those no longer kept, so a vendor
    resending a long list does not republish old ones. The newest report sets the board (score,
    period, clock); an older one can still add incidents, since vendors report them at different
    moments. An incident listed twice counts once."""
    known = set(seen)
    if current is not None:
        known.update(incident.id for incident in current.incidents)
    new: list[Incident] = []
    for incident in report.incidents:
        if incident.id not in known:
            known.add(incident.id)
            new.append(incident)
    if current is None:
        state = replace(report, incidents=tuple(new[-KEPT_INCIDENTS:]))
        return state, state
    newer = report.updated_at >= current.updated_at
    if not new and (not newer or current.same_board(report)):
        return None
    state = replace(
        report if newer else current,
        incidents=(*current.incidents, *new)[-KEPT_INCIDENTS:],
        updated_at=max(current.updated_at, report.updated_at),
    )
    return state, replace(state, incidents=tuple(new))


def absorb_state(current: MatchState | None, change: MatchState) -> MatchState:
    """A replica's state after a published change (its incidents are the new ones)."""
    before = current.incidents if current is not None else ()
    return replace(change, incidents=(*before, *change.incidents)[-KEPT_INCIDENTS:])
