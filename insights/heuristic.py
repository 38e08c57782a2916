"""The embedded generator: an insight computed from the prices and incidents alone, no model.

Its probabilities are the market's (margin removed); its words come from templates, e.g. "Odds
drift triggered by red card to Arsenal in the 62nd minute. Implied win probability of Arsenal
dropped from 41% to 25% within a 90-second window."
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from insights.context import InsightContext
from schema.insight import Insight, KeyEvent, Momentum, Probabilities, ProbabilityShift
from schema.match import Incident

GENERATOR = "heuristic"
# A side gains the momentum when the market moved its way by more than this, in probability.
MOMENTUM_THRESHOLD = 0.02
# Below this a move is not worth a sentence of its own.
NOTABLE_MOVE = 0.03
KEY_EVENTS = 5


def percent(p: float) -> str:
    return f"{Decimal(repr(p * 100)).quantize(Decimal(1), ROUND_HALF_UP)}%"


def probabilities(values: dict[str, float]) -> Probabilities:
    return Probabilities(
        home=round(values["home"], 4),
        away=round(values["away"], 4),
        draw=round(values["draw"], 4) if "draw" in values else None,
    )


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))


def key_incident(ctx: InsightContext) -> Incident | None:
    """The window's most significant incident (the latest among equals), if any is key."""
    sport, since = ctx.profile, ctx.window_start
    found = [i for i in ctx.incidents() if i.at >= since and sport.is_key(i)]
    if not found:
        return None
    return max(enumerate(found), key=lambda pair: (sport.significance.get(pair[1].type, 0.0), pair[0]))[1]


def summary(ctx: InsightContext) -> str:
    incident = key_incident(ctx)
    if incident is not None and incident.team is not None:
        before = ctx.probability_at(incident.at)[incident.team]
        after = ctx.current[incident.team]
        # The span ends at the last price move the incident caused, or now if prices have not moved.
        moves = [p.at for p in ctx.history if p.at > incident.at and p.at < ctx.now]
        span = _seconds(incident.at, moves[-1] if moves else ctx.now)
        cause = ctx.profile.describe(incident, ctx.event.info.home_team, ctx.event.info.away_team)
        cause = cause[:1].lower() + cause[1:]
        name = ctx.team(incident.team)
        move = after - before
        if abs(move) < NOTABLE_MOVE:
            same = percent(after) == percent(before)
            moved = f"stayed at {percent(after)}" if same else f"went from {percent(before)} to {percent(after)}"
            return f"Prices held after {cause}: implied win probability of {name} {moved} in the {span} seconds since."
        # Only a move the incident explains is put down to it: a red card lowers its team's chances.
        if (move < 0) == (incident.type in ctx.profile.setbacks):
            drift = "Odds drift" if move < 0 else "Odds shortening"
            verb = "dropped" if move < 0 else "rose"
            return (
                f"{drift} triggered by {cause}. Implied win probability of {name} {verb} from "
                f"{percent(before)} to {percent(after)} within a {span}-second window."
            )
    change = {o: ctx.current[o] - ctx.start[o] for o in ctx.current}
    mover = max(change, key=lambda o: abs(change[o]))
    if abs(change[mover]) >= NOTABLE_MOVE:
        verb = "dropped" if change[mover] < 0 else "rose"
        explained = "without a reported incident" if incident is None else "beyond what the incidents explain"
        return (
            f"Prices moved {explained}: implied win probability of {ctx.team(mover)} {verb} "
            f"from {percent(ctx.start[mover])} to {percent(ctx.current[mover])} over the last "
            f"{ctx.window_seconds} seconds."
        )
    favourite = max(ctx.current, key=lambda o: ctx.current[o])
    return (
        f"Prices steady over the last {ctx.window_seconds} seconds: {ctx.team(favourite)} "
        f"{'is the most likely result' if favourite == 'draw' else 'favourite'} at {percent(ctx.current[favourite])}."
    )


def momentum(ctx: InsightContext) -> Momentum:
    """The side the market moved towards over the window."""
    lean = (ctx.current["home"] - ctx.start["home"]) - (ctx.current["away"] - ctx.start["away"])
    if lean > MOMENTUM_THRESHOLD:
        return "home"
    if lean < -MOMENTUM_THRESHOLD:
        return "away"
    return "neutral"


def key_events(ctx: InsightContext) -> list[KeyEvent]:
    info, sport = ctx.event.info, ctx.profile
    chosen = [i for i in ctx.incidents() if sport.is_key(i)][-KEY_EVENTS:]
    return [
        KeyEvent(
            type=i.type,
            team=i.team if i.team in ("home", "away") else None,
            period=i.period,
            clock=i.clock,
            description=sport.describe(i, info.home_team, info.away_team),
        )
        for i in chosen
    ]


def notes(ctx: InsightContext) -> list[str]:
    info, state = ctx.event.info, ctx.event.state
    found: list[str] = []
    if state is not None:
        moment = " ".join(p for p in (state.period, state.clock) if p)
        found.append(
            f"Score: {info.home_team} {state.home_score}-{state.away_score} {info.away_team}"
            + (f" ({moment})." if moment else ".")
        )
        for side in ("home", "away") if ctx.profile.sport == "football" else ():
            cards = sum(1 for i in state.incidents if i.type == "red_card" and i.team == side)
            if cards:
                found.append(f"{ctx.team(side)} are down to {11 - cards} players.")
    favourite = max(ctx.current, key=lambda o: ctx.current[o])
    likely = percent(ctx.current[favourite])
    found.append(f"The market makes {ctx.team(favourite)} the most likely result at {likely}.")
    for market in ctx.event.markets:
        if market.suspended or market.line is None or len(found) >= 6:
            continue
        fair = {o.id: float(1 / o.odds) for o in market.outcomes}
        total = sum(fair.values())
        if market.type.value == "total" and "over" in fair:
            found.append(f"Total {market.line}: over at {percent(fair['over'] / total)} (margin removed).")
        elif market.type.value == "spread" and "home" in fair:
            found.append(
                f"Spread {info.home_team} {market.line:+}: covers at {percent(fair['home'] / total)} (margin removed)."
            )
    return found[:6]


def heuristic_insight(ctx: InsightContext, fallback_reason: str | None = None) -> Insight:
    return Insight(
        event_id=ctx.event.info.id,
        sport=ctx.event.info.sport,
        summary=summary(ctx),
        key_events=key_events(ctx),
        win_probability=probabilities(ctx.current),
        probability_shift=ProbabilityShift(
            window_seconds=ctx.window_seconds,
            start=probabilities(ctx.start),
            end=probabilities(ctx.current),
            change={o: round(ctx.current[o] - ctx.start[o], 4) for o in ctx.current},
        ),
        momentum=momentum(ctx),
        predictive_notes=notes(ctx),
        model_probability=None,
        generator=GENERATOR,
        fallback_reason=fallback_reason,
        created_at=ctx.now,
        odds_seq=ctx.event.seq,
    )
