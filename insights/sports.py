"""What each sport's insight talks about: its match-winner market, which incidents matter and how
much, how a moment of the match is said, and the prompt a language model gets."""

from __future__ import annotations

from dataclasses import dataclass

from schema.errors import NotFound
from schema.match import Incident
from schema.model import MarketType


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _minute(incident: Incident) -> str:
    """Football's clock is minutes: '62:14' or '62' is the 63rd or 62nd minute as commentators say."""
    clock = incident.clock or ""
    head = clock.split(":", 1)[0].rstrip("'+ ")
    if head.isdigit():
        minute = int(head) + (1 if ":" in clock else 0)
        return f"in the {ordinal(max(1, minute))} minute"
    return f"in {incident.period}" if incident.period else ""


def _period_clock(incident: Incident) -> str:
    parts = [p for p in (incident.period, incident.clock) if p]
    return f"in {' '.join(parts)}" if parts else ""


SETBACKS = frozenset(
    {
        "red_card",
        "yellow_card",
        "penalty_missed",
        "injury",
        "medical_timeout",
        "retirement",
        "interception",
        "fumble",
        "turnover_on_downs",
        "foul_out",
        "technical_foul",
        "penalty",
        "double_fault",
        "error",
    }
)


@dataclass(slots=True, frozen=True)
class SportProfile:
    sport: str
    label: str
    # The first of these the event has is the match-winner market insights speak of.
    winner_markets: tuple[MarketType, ...]
    # How much an incident can move a match (0 to 1); those at 0.5 or more are key events.
    significance: dict[str, float]
    # "red card to {team}", with the team's name.
    phrases: dict[str, str]
    focus: str
    draw: bool = False
    # Incidents that hurt the team they name (a red card); the others help it (a goal).
    setbacks: frozenset[str] = SETBACKS

    def moment(self, incident: Incident) -> str:
        return _minute(incident) if self.sport == "football" else _period_clock(incident)

    def describe(self, incident: Incident, home: str, away: str) -> str:
        team = {"home": home, "away": away}.get(incident.team or "", "")
        phrase = self.phrases.get(incident.type, incident.type.replace("_", " ") + (" for {team}" if team else ""))
        text = phrase.format(team=team or "a team", player=incident.player or "")
        moment = self.moment(incident)
        return f"{text[:1].upper()}{text[1:]} {moment}".strip()

    def is_key(self, incident: Incident) -> bool:
        return self.significance.get(incident.type, 0.0) >= 0.5


PROFILES: dict[str, SportProfile] = {
    "football": SportProfile(
        "football",
        "football (soccer)",
        (MarketType.THREE_WAY, MarketType.MONEYLINE),
        {
            "goal": 1.0,
            "own_goal": 1.0,
            "penalty_goal": 1.0,
            "red_card": 0.9,
            "penalty_missed": 0.6,
            "injury": 0.5,
            "var_review": 0.4,
            "yellow_card": 0.2,
            "substitution": 0.1,
        },
        {
            "goal": "goal for {team}",
            "own_goal": "own goal, credited to {team}",
            "penalty_goal": "penalty scored by {team}",
            "penalty_missed": "penalty missed by {team}",
            "red_card": "red card to {team}",
            "yellow_card": "yellow card to {team}",
            "injury": "injury for {team}",
        },
        "three-way result (home, draw, away); red cards, goals and the minute matter most",
        draw=True,
    ),
    "american_football": SportProfile(
        "american_football",
        "American football",
        (MarketType.MONEYLINE,),
        {
            "touchdown": 1.0,
            "interception": 0.8,
            "fumble": 0.8,
            "turnover_on_downs": 0.7,
            "field_goal": 0.6,
            "safety": 0.6,
            "injury": 0.6,
            "two_point_conversion": 0.4,
            "timeout": 0.1,
        },
        {
            "touchdown": "touchdown for {team}",
            "interception": "interception thrown by {team}",
            "fumble": "fumble lost by {team}",
            "turnover_on_downs": "turnover on downs by {team}",
            "field_goal": "field goal for {team}",
            "injury": "injury for {team}",
        },
        "moneyline, spread and total; turnovers, scores and the quarter matter most",
    ),
    "basketball": SportProfile(
        "basketball",
        "basketball",
        (MarketType.MONEYLINE,),
        {
            "scoring_run": 0.9,
            "foul_out": 0.7,
            "injury": 0.7,
            "technical_foul": 0.4,
            "three_pointer": 0.2,
            "timeout": 0.1,
        },
        {
            "scoring_run": "scoring run by {team}",
            "foul_out": "a {team} player fouled out",
            "injury": "injury for {team}",
            "technical_foul": "technical foul on {team}",
        },
        "moneyline, spread and total; scoring runs, foul trouble and injuries matter most",
    ),
    "tennis": SportProfile(
        "tennis",
        "tennis",
        (MarketType.MONEYLINE,),
        {
            "break_of_serve": 0.9,
            "set_won": 0.9,
            "retirement": 1.0,
            "medical_timeout": 0.7,
            "injury": 0.7,
            "tiebreak": 0.5,
            "double_fault": 0.1,
            "ace": 0.05,
        },
        {
            "break_of_serve": "break of serve by {team}",
            "set_won": "set won by {team}",
            "medical_timeout": "medical timeout for {team}",
            "injury": "injury for {team}",
            "retirement": "retirement of {team}",
        },
        "match winner; breaks of serve, sets and physical problems matter most",
    ),
    "ice_hockey": SportProfile(
        "ice_hockey",
        "ice hockey",
        (MarketType.MONEYLINE,),
        {
            "goal": 1.0,
            "penalty_shot": 0.6,
            "power_play": 0.5,
            "pulled_goalie": 0.5,
            "empty_net": 0.8,
            "injury": 0.5,
            "penalty": 0.4,
        },
        {
            "goal": "goal for {team}",
            "power_play": "power play for {team}",
            "pulled_goalie": "{team} pulled their goalie",
            "empty_net": "empty-net goal for {team}",
            "penalty": "penalty to {team}",
        },
        "moneyline and total; goals, power plays and a pulled goalie matter most",
    ),
    "baseball": SportProfile(
        "baseball",
        "baseball",
        (MarketType.MONEYLINE,),
        {"home_run": 0.9, "run_scored": 0.7, "pitching_change": 0.6, "injury": 0.6, "error": 0.4, "walk": 0.1},
        {
            "home_run": "home run for {team}",
            "run_scored": "run scored by {team}",
            "pitching_change": "pitching change for {team}",
            "injury": "injury for {team}",
            "error": "fielding error by {team}",
        },
        "moneyline and total; runs, home runs and pitching changes matter most",
    ),
}


def profile(sport: str) -> SportProfile:
    found = PROFILES.get(sport)
    if found is None:
        raise NotFound(f"insights cover {', '.join(sorted(PROFILES))}, not {sport!r}")
    return found
