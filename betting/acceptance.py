"""Whether a market may take a bet at all, before any price or money is looked at.

Each guard has its own refusal code and its own setting (`BetGuards`): a settled market, a closed
event or a pre-match market past its scheduled start is `MARKET_CLOSED`; a suspended market
`MARKET_SUSPENDED`; a price the book itself flags as not current (no fresh source: `stale`; or one
source left while others went silent: `single_source` with `stale:<source>`) `PRICE_UNRELIABLE`.
In-play bets are held `inplay_delay` seconds and checked again (see `betting.placement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from betting.errors import MarketClosed, MarketSuspended, PriceUnreliable
from schema.model import Event, EventStatus, Market, Outcome


@dataclass(slots=True, frozen=True)
class BetGuards:
    refuse_unreliable: bool = True
    close_at_start: bool = True
    # Seconds an in-play bet is held before it is checked again; 0 takes it at once.
    inplay_delay: float = 5.0

    def delay_for(self, event: Event) -> float:
        return self.inplay_delay if event.status is EventStatus.LIVE else 0.0


def unreliable(outcome: Outcome) -> str | None:
    """Why the price is not to be bet on, or None."""
    if "stale" in outcome.flags:
        return "no source has quoted it recently"
    if "single_source" in outcome.flags and any(f.startswith("stale:") for f in outcome.flags):
        silent = ", ".join(sorted(f.split(":", 1)[1] for f in outcome.flags if f.startswith("stale:")))
        return f"one source is left while {silent} went silent"
    return None


def check_open(guards: BetGuards, event: Event, market: Market, outcome: Outcome, now: datetime) -> None:
    """Raises the refusal for a market that may not take this bet now."""
    where = f"market {market.id} of {event.info.id}"
    if market.result is not None:
        raise MarketClosed(f"{where} is settled")
    if event.status.closed:
        raise MarketClosed(f"{where} is closed: the event is {event.status.value}")
    if guards.close_at_start and event.status is EventStatus.SCHEDULED and now >= event.info.start_time:
        raise MarketClosed(
            f"{where} closed at the scheduled start ({event.info.start_time.isoformat()}); "
            "it reopens in play when the event is reported live"
        )
    if market.suspended:
        raise MarketSuspended(f"{where} is suspended")
    if guards.refuse_unreliable and (why := unreliable(outcome)) is not None:
        raise PriceUnreliable(f"the price of {outcome.id} on {where} is not reliable: {why}")
