"""The bet tracker's summary: profit and loss, ROI and win rate, overall, by sport and by market;
and the operator's reports over the whole book, which count only the events the caller's token sees."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from schema.visibility import Visibility
from store.bets import BetRepository, settled_bets
from store.types import cents

_WINS = frozenset({"won", "half_won", "dead_heat"})


@dataclass(slots=True)
class Tally:
    bets: int = 0
    staked: Decimal = Decimal("0.00")
    returned: Decimal = Decimal("0.00")
    wins: int = 0
    decided: int = 0

    def add(self, stake: Decimal, payout: Decimal, result: str) -> None:
        self.bets += 1
        self.staked += stake
        self.returned += payout
        if result != "void":
            self.decided += 1
            self.wins += result in _WINS and payout > stake

    def json(self) -> dict[str, Any]:
        pnl = self.returned - self.staked
        return {
            "bets": self.bets,
            "staked": str(self.staked),
            "returned": str(self.returned),
            "pnl": str(pnl),
            "roi": None if not self.staked else float(round(pnl / self.staked, 4)),
            "win_rate": None if not self.decided else round(self.wins / self.decided, 4),
        }


def summary(settled: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """From settled bets (sport, market_id, stake, payout, result): the bettor's side of the book."""
    overall = Tally()
    by_sport: dict[str, Tally] = {}
    by_market: dict[str, Tally] = {}
    for bet in settled:
        stake = cents(bet["stake"])
        paid = cents(bet["payout"])
        market = str(bet["market_id"]).split(":", 1)[0]
        for tally in (overall, by_sport.setdefault(bet["sport"], Tally()), by_market.setdefault(market, Tally())):
            tally.add(stake, paid, str(bet["result"]))
    return {
        "overall": overall.json(),
        "by_sport": {k: v.json() for k, v in sorted(by_sport.items())},
        "by_market": {k: v.json() for k, v in sorted(by_market.items())},
    }


class BookReports:
    """Everyone's settled bets summed, and the house's exposure per outcome, as one operator may see
    them: only bets and lines on events of the sports (and leagues) its token sees."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.repository = BetRepository()

    async def report(self, visibility: Visibility) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return summary(await settled_bets(conn, None, visibility))

    async def exposure(self, visibility: Visibility) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return await self.repository.all_exposure(conn, visibility)
