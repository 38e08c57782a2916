"""Trader overrides: which apply to a market, in what precedence, and what they do to its prices.

An override targets a scope, any prefix of sport > event > market > outcome. For each kind of
action the most specific override covering a market wins, and a later override at the same scope
and of the same kind replaces the earlier. Kinds: status (`suspend`/`resume`, sport to market),
`margin` (sport to market) and `price` (one outcome).

Margin: the consensus prices' implied probabilities are normalised to fair ones (the overround
removed), then scaled by the target: p_i = (1/o_i) / sum_j (1/o_j), served o_i = 1 / (p_i * (1 + M/100)).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from feeds.consensus import to_price
from schema.errors import InvalidRequest
from schema.model import EventInfo, Outcome
from schema.odds import check_decimal_odds

MAX_MARGIN = Decimal(50)


class Action(StrEnum):
    SUSPEND = "suspend"
    RESUME = "resume"
    MARGIN = "margin"
    PRICE = "price"

    @property
    def kind(self) -> str:
        return "status" if self in (Action.SUSPEND, Action.RESUME) else self.value


@dataclass(slots=True, frozen=True)
class Scope:
    sport: str | None = None
    event_id: str | None = None
    market_id: str | None = None
    outcome_id: str | None = None
    # A sport's scope may be one of its leagues (`nfl` rather than all of american_football).
    league: str | None = None

    @property
    def level(self) -> int:
        """1 sport, 2 event, 3 market, 4 outcome: the more specific, the higher."""
        return 4 if self.outcome_id else 3 if self.market_id else 2 if self.event_id else 1

    def covers(self, info: EventInfo, market_id: str, outcome_id: str | None = None) -> bool:
        if self.sport is not None and info.sport != self.sport:
            return False
        if self.league and info.league != self.league:
            return False
        if self.event_id is not None and info.id != self.event_id:
            return False
        if self.market_id is not None and market_id != self.market_id:
            return False
        return self.outcome_id is None or self.outcome_id == outcome_id

    def json(self) -> dict[str, str]:
        return {
            key: value
            for key, value in (
                ("sport", self.sport),
                ("league", self.league),
                ("event_id", self.event_id),
                ("market_id", self.market_id),
                ("outcome_id", self.outcome_id),
            )
            if value is not None
        }


@dataclass(slots=True, frozen=True)
class Override:
    id: str
    scope: Scope
    action: Action
    value: Decimal | None
    reason: str
    actor: str
    created_at: datetime

    @property
    def key(self) -> tuple[Scope, str]:
        return self.scope, self.action.kind


def check(scope: Scope, action: Action, value: Decimal | None) -> Decimal | None:
    """The override's value, checked; raises InvalidRequest saying what is wrong."""
    if scope.sport is None and scope.event_id is None:
        raise InvalidRequest("an override's scope names a sport or an event")
    if scope.outcome_id is not None and scope.market_id is None:
        raise InvalidRequest("an outcome is named within its market: give market_id too")
    if scope.market_id is not None and scope.event_id is None:
        raise InvalidRequest("a market is named within its event: give event_id too")
    if action is Action.PRICE:
        if scope.outcome_id is None:
            raise InvalidRequest("a price override fixes one outcome: give outcome_id")
        if value is None:
            raise InvalidRequest("a price override needs 'value': decimal odds")
        return check_decimal_odds(value).quantize(Decimal("0.01"))
    if scope.outcome_id is not None:
        raise InvalidRequest(f"{action.value} applies to markets, not to one outcome")
    if action is Action.MARGIN:
        if value is None or not Decimal(0) <= value <= MAX_MARGIN:
            raise InvalidRequest(f"a margin override needs 'value': a target margin from 0 to {MAX_MARGIN} percent")
        return value
    if value is not None:
        raise InvalidRequest(f"{action.value} takes no 'value'")
    return None


class OverrideSet:
    def __init__(self) -> None:
        self.active: dict[str, Override] = {}
        self._by_key: dict[tuple[Scope, str], Override] = {}

    def add(self, override: Override) -> Override | None:
        """Make it active; returns the override it replaces (same scope, same kind), if any."""
        replaced = self._by_key.get(override.key)
        if replaced is not None:
            del self.active[replaced.id]
        self.active[override.id] = override
        self._by_key[override.key] = override
        return replaced

    def remove(self, override_id: str) -> Override | None:
        override = self.active.pop(override_id, None)
        if override is not None and self._by_key.get(override.key) is override:
            del self._by_key[override.key]
        return override

    def _winner(self, kind: str, info: EventInfo, market_id: str, outcome_id: str | None = None) -> Override | None:
        best: Override | None = None
        for override in self.active.values():
            if override.action.kind != kind or not override.scope.covers(info, market_id, outcome_id):
                continue
            if best is None or override.scope.level > best.scope.level:
                best = override
        return best

    def suspended(self, info: EventInfo, market_id: str) -> bool:
        status = self._winner("status", info, market_id)
        return status is not None and status.action is Action.SUSPEND

    def apply(
        self, info: EventInfo, market_id: str, outcomes: dict[str, Outcome], margin: Decimal | None
    ) -> tuple[dict[str, Outcome], Decimal | None]:
        """The market's outcomes and margin with margin and price overrides applied."""
        if not self.active or not outcomes:
            return outcomes, margin
        target = self._winner("margin", info, market_id)
        if target is not None and target.value is not None:
            implied = {o: 1 / float(outcome.odds) for o, outcome in outcomes.items()}
            total = sum(implied.values())
            scale = 1 + float(target.value) / 100
            outcomes = {
                o: replace(
                    outcome,
                    odds=to_price(implied[o] / total * scale),
                    flags=_flagged(outcome.flags, "override:margin"),
                )
                for o, outcome in outcomes.items()
            }
        fixed = False
        for o, outcome in list(outcomes.items()):
            price = self._winner("price", info, market_id, o)
            if price is not None and price.value is not None:
                outcomes[o] = replace(outcome, odds=price.value, flags=_flagged(outcome.flags, "override:price"))
                fixed = True
        if target is not None or fixed:
            margin = Decimal(f"{(sum(1 / float(o.odds) for o in outcomes.values()) - 1) * 100:.2f}")
        return outcomes, margin


def _flagged(flags: tuple[str, ...], flag: str) -> tuple[str, ...]:
    # A price kept from before (marked stale) already carries the flags of the overrides on it.
    return flags if flag in flags else (*flags, flag)
