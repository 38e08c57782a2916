"""A bet as it is served: what every door renders, whatever stored it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(slots=True, frozen=True)
class Bet:
    bet_id: str
    # accepted (open), settled or void.
    status: str
    event_id: str
    market_id: str
    outcome_id: str
    odds: Decimal
    stake: Decimal
    potential_payout: Decimal
    accepted_at: datetime
    result: str | None = None
    payout: Decimal | None = None
    # The bet's record at placement (its audience's price, flags, sources, overrides, claims),
    # shown to its owner and to admins.
    record: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        """The contract's shape: money as text with two decimals, odds as a number."""
        body: dict[str, Any] = {
            "bet_id": self.bet_id,
            "status": self.status,
            "event_id": self.event_id,
            "market_id": self.market_id,
            "outcome_id": self.outcome_id,
            "odds": float(self.odds),
            "stake": str(self.stake),
            "potential_payout": str(self.potential_payout),
            "accepted_at": self.accepted_at,
            "result": self.result,
            "payout": None if self.payout is None else str(self.payout),
        }
        if self.record is not None:
            body["context"] = self.record
        return body

    @classmethod
    def of_json(cls, body: dict[str, Any]) -> Bet:
        """A bet from its JSON (an idempotent replay keeps the first answer as JSON)."""
        accepted = body["accepted_at"]
        payout = body.get("payout")
        return cls(
            bet_id=body["bet_id"],
            status=body["status"],
            event_id=body["event_id"],
            market_id=body["market_id"],
            outcome_id=body["outcome_id"],
            odds=Decimal(str(body["odds"])),
            stake=Decimal(body["stake"]),
            potential_payout=Decimal(body["potential_payout"]),
            accepted_at=accepted if isinstance(accepted, datetime) else datetime.fromisoformat(accepted),
            result=body.get("result"),
            payout=None if payout is None else Decimal(payout),
            record=body.get("context"),
        )
