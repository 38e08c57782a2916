"""Risk limits that can veto any bet. Each check names the limit it refuses with."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from betting.errors import RiskLimitExceeded


@dataclass(slots=True, frozen=True)
class RiskLimits:
    max_stake: Decimal = Decimal("1000.00")
    daily_loss: Decimal = Decimal("5000.00")
    pending_exposure: Decimal = Decimal("10000.00")
    liability_per_outcome: Decimal = Decimal("100000.00")
    liability_per_market: Decimal = Decimal("250000.00")
    bets_per_day: int = 500

    def overridden(self, changes: dict[str, Any]) -> RiskLimits:
        """Per-user limits over the defaults; unknown names are refused (ValueError)."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown risk limits: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {k: int(v) if k == "bets_per_day" else Decimal(str(v)) for k, v in changes.items()}
        return replace(self, **values)


class RiskBook:
    """The limits each user bets under: the defaults, or that user's own."""

    def __init__(self, defaults: RiskLimits, per_user: dict[str, dict[str, Any]] | None = None):
        self.defaults = defaults
        self.per_user = {sub: defaults.overridden(changes) for sub, changes in (per_user or {}).items()}

    def of(self, sub: str) -> RiskLimits:
        return self.per_user.get(sub, self.defaults)


@dataclass(slots=True, frozen=True)
class Exposure:
    """What the bet would add to, as the ledger has it now (in the same transaction)."""

    user_lost_today: Decimal
    user_pending: Decimal
    user_bets_today: int
    house_outcome_liability: Decimal
    house_market_liability: Decimal


def check(limits: RiskLimits, stake: Decimal, odds: Decimal, now: Exposure) -> None:
    """Raises RiskLimitExceeded for the first limit the bet would break."""
    win = stake * odds - stake
    checks = (
        ("max_stake", stake > limits.max_stake, f"the stake is above the maximum of {limits.max_stake}"),
        (
            "daily_loss",
            now.user_lost_today + stake > limits.daily_loss,
            f"it could take today's losses above {limits.daily_loss}",
        ),
        (
            "pending_exposure",
            now.user_pending + stake > limits.pending_exposure,
            f"open stakes would exceed {limits.pending_exposure}",
        ),
        ("bets_per_day", now.user_bets_today + 1 > limits.bets_per_day, f"at most {limits.bets_per_day} bets a day"),
        (
            "liability_per_outcome",
            now.house_outcome_liability + win > limits.liability_per_outcome,
            f"the house's liability on this outcome would exceed {limits.liability_per_outcome}",
        ),
        (
            "liability_per_market",
            now.house_market_liability + win > limits.liability_per_market,
            f"the house's liability on this market would exceed {limits.liability_per_market}",
        ),
    )
    for name, broken, reason in checks:
        if broken:
            raise RiskLimitExceeded(name, f"bet refused: {reason}")
