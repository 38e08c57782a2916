"""Prices as a region that admits only some sources sees them: the consensus of those sources alone.

The book prices every market from every source; a jurisdiction may allow only some (official league
data, licensed vendors). Each outcome carries every source's current price, so the region's price is
the same consensus formula run over the allowed sources' prices, at read and delivery time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from feeds.book import OddsBook
from feeds.consensus import SourcePrices, aggregate
from schema.model import OUTCOMES, Delta, Event, Market, Outcome


def regional_market(market: Market, allowed: frozenset[str], book: OddsBook) -> Market | None:
    """The market priced from the allowed sources only; None when none of them quotes it."""
    ids = OUTCOMES[market.type]
    by_source: dict[str, dict[str, Decimal]] = {}
    for outcome in market.outcomes:
        stale = {flag.split(":", 1)[1] for flag in outcome.flags if flag.startswith("stale:")}
        for source, quoted in outcome.sources.items():
            if source in allowed and source not in stale:
                by_source.setdefault(source, {})[outcome.id] = quoted
    if not by_source:
        return None
    now = book.clock()
    consensus = book.consensus
    books = {s: SourcePrices.of(odds, ids, consensus.weight(s), now) for s, odds in by_source.items()}
    price = aggregate(ids, books, now, consensus)
    if not price.outcomes:
        return None
    outcomes = tuple(
        Outcome(
            o.id,
            o.name,
            price.outcomes[o.id].odds,
            o.updated_at,
            price.outcomes[o.id].source_count,
            price.outcomes[o.id].confidence,
            {s: p for s, p in o.sources.items() if s in by_source},
            price.outcomes[o.id].flags,
        )
        for o in market.outcomes
        if o.id in price.outcomes
    )
    return replace(market, margin=price.margin, outcomes=outcomes)


def regional_event(event: Event, allowed: frozenset[str], book: OddsBook) -> Event:
    markets = (regional_market(m, allowed, book) for m in event.markets)
    return replace(event, markets=tuple(m for m in markets if m is not None))


def regional_delta(delta: Delta, allowed: frozenset[str], book: OddsBook) -> Delta:
    """A market delta restated as the region sees the whole market now; a market none of the
    allowed sources quotes is shown suspended."""
    if delta.market_id is None:
        return delta
    event = book.event(delta.event_id)
    market = next((m for m in event.markets if m.id == delta.market_id), None) if event is not None else None
    regional = regional_market(market, allowed, book) if market is not None else None
    if regional is None:
        return replace(delta, suspended=True, outcomes=(), market_changed=True)
    return replace(delta, suspended=regional.suspended, margin=regional.margin, outcomes=regional.outcomes)


def regional_view(allowed: frozenset[str] | None, book: OddsBook) -> Callable[[Delta], Delta] | None:
    """How a caller limited to `allowed` sources sees each delta; None when nothing needs restating."""
    if allowed is None:
        return None
    return lambda delta: regional_delta(delta, allowed, book)
