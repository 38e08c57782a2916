"""The messages a language model gets for one insight: the sport's focus, then the facts."""

from __future__ import annotations

import hashlib

import orjson

from insights.context import InsightContext
from insights.heuristic import percent

SYSTEM = (
    "You are a sports trading analyst writing a short insight for a live odds screen. Use only the "
    "facts given: the live match state, the incidents and the market's win probabilities with the "
    "bookmaker margin removed, and how they moved over the window. Explain what moved the odds and "
    "why, say which side has the momentum, and give at most six short predictive notes. Also give "
    "your own win probabilities as model_probability (home, away, and draw only where the sport has "
    "one, otherwise null); they are shown labelled as a model estimate, never as market odds. "
    "Answer in English, in the JSON schema you are given, nothing else."
)


def user_prompt(ctx: InsightContext) -> str:
    info, state, sport = ctx.event.info, ctx.event.state, ctx.profile
    history = [
        {"seconds_ago": round((ctx.now - p.at).total_seconds()), **{o: percent(v) for o, v in p.probabilities.items()}}
        for p in ctx.history[-20:]
    ]
    facts = {
        "sport": sport.label,
        "focus": sport.focus,
        "match": f"{info.home_team} (home) v {info.away_team} (away)",
        "league": info.league,
        "status": ctx.event.status.value,
        "score": None if state is None else {"home": state.home_score, "away": state.away_score},
        "period": None if state is None else state.period,
        "clock": None if state is None else state.clock,
        "detail": None if state is None else state.detail,
        "incidents": [
            {"type": i.type, "team": i.team, "period": i.period, "clock": i.clock, "player": i.player}
            for i in ctx.incidents()[-15:]
        ],
        "market": ctx.market.id,
        "win_probability_now": {o: percent(v) for o, v in ctx.current.items()},
        "window_seconds": ctx.window_seconds,
        "win_probability_history": history,
        "other_markets": [
            {"market": m.id, "prices": {o.id: float(o.odds) for o in m.outcomes}}
            for m in ctx.event.markets
            if m.id != ctx.market.id and not m.suspended
        ][:6],
    }
    return "Write the insight for this match.\n" + orjson.dumps(facts, option=orjson.OPT_INDENT_2).decode()


def prompt_hash(system: str, user: str) -> str:
    return hashlib.sha256(f"{system}\n\n{user}".encode()).hexdigest()
