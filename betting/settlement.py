"""What a settled bet pays. Dead heats and Asian lines included:

- won: stake x odds; lost: 0; void: the stake back;
- half_won (a quarter line half won): half the stake at the odds, half back;
- half_lost: half the stake back;
- dead heat: the stake x factor wins at the odds, the rest is lost (factor 1/2 for two tied, ...).

Payouts round down to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from betting.money import cents_down
from schema.errors import InvalidRequest


class Result(StrEnum):
    WON = "won"
    LOST = "lost"
    VOID = "void"
    HALF_WON = "half_won"
    HALF_LOST = "half_lost"
    DEAD_HEAT = "dead_heat"


def payout(stake: Decimal, odds: Decimal, result: Result, dead_heat_factor: Decimal | None = None) -> Decimal:
    """Raises InvalidRequest for a dead heat without a factor in (0, 1]."""
    if result is Result.WON:
        return cents_down(stake * odds)
    if result is Result.LOST:
        return Decimal("0.00")
    if result is Result.VOID:
        return stake
    half = stake / 2
    if result is Result.HALF_WON:
        return cents_down(half * odds + half)
    if result is Result.HALF_LOST:
        return cents_down(half)
    if dead_heat_factor is None or not Decimal(0) < dead_heat_factor <= 1:
        raise InvalidRequest("a dead heat needs 'dead_heat_factor' in (0, 1], e.g. 0.5 for a two-way tie")
    return cents_down(stake * dead_heat_factor * odds)
