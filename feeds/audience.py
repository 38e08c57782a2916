"""What one audience is shown of the live book: the only path from the book to a served price.

An audience is what a token and its region may see (`Visibility`): its sports, its region's market
types, and the sources its region admits. The book prices every source-limited audience itself,
through the same consensus, suspension and override steps as everyone's price (`OddsBook.views`),
so here an audience's price is looked up, never recomputed. Reads, subscriptions, the partner
socket, the CMS, history and bets all take their prices from here.
"""

from __future__ import annotations

from dataclasses import replace

from feeds.book import OddsBook
from schema.errors import Forbidden, NotFound
from schema.model import Delta, Event, Market, MarketView
from schema.visibility import Visibility


def viewed(market: Market, view: str | None) -> Market | None:
    """The market at the prices of `view` (None: everyone's); None when that view does not offer it."""
    if view is None:
        return market
    found = next((v for v in market.views if v.name == view), None)
    if found is None or not (found.outcomes or found.suspended):
        # None of the audience's sources has quoted it: it is not offered there.
        return None
    return replace(market, suspended=found.suspended, margin=found.margin, outcomes=found.outcomes, views=())


def offered(book: OddsBook, delta: Delta, visibility: Visibility) -> bool:
    """Whether the market a delta is about is offered to this audience (an event-level delta always
    is): not a market type its region leaves out, nor a market none of its sources quotes."""
    if delta.market_id is None:
        return True
    if delta.market_type is not None and not visibility.sees_market(delta.market_type.value):
        return False
    view = visibility.view
    if view is None or any(v.name == view for v in delta.views):
        return True
    state = book.events.get(delta.event_id)
    market = state.markets.get(delta.market_id) if state is not None else None
    return market is not None and view in market.views


def tells_of_event(delta: Delta) -> bool:
    """Whether a delta describes the event itself (new, its status or match state changed)."""
    return delta.event is not None or delta.status is not None or delta.state is not None


class Audience:
    __slots__ = ("book", "view", "visibility")

    def __init__(self, book: OddsBook, visibility: Visibility):
        self.book = book
        self.visibility = visibility
        self.view = visibility.view

    def event(self, event_id: str) -> Event:
        """The live event as this audience sees it; NotFound, or Forbidden outside its sports."""
        event = self.book.event(event_id)
        if event is None:
            raise NotFound(f"no event {event_id!r} in the live book")
        return self.shown(event)

    def shown(self, event: Event) -> Event:
        """An event (live, or rebuilt for this audience from the audit) with only the markets this
        audience is offered, each at its price; Forbidden outside its sports."""
        info = event.info
        if not self.visibility.sees_event(info.sport, info.league):
            raise Forbidden(f"this token does not cover {info.league or info.sport} ({info.id})")
        return self.markets(event)

    def markets(self, event: Event) -> Event:
        """The event's markets this audience is offered, at its prices (its sports are the caller's
        concern: a query has already selected on them)."""
        if self.visibility.market_types is None and self.view is None:
            return event
        markets = (self._market(m) for m in event.markets if self.visibility.sees_market(m.type.value))
        return replace(event, markets=tuple(m for m in markets if m is not None))

    def market(self, event_id: str, market_id: str) -> tuple[Event, Market]:
        """One market as this audience is offered it; NotFound when it is not (as reading it)."""
        event = self.event(event_id)
        market = next((m for m in event.markets if m.id == market_id), None)
        if market is None:
            raise NotFound(f"event {event_id} has no market {market_id!r}")
        return event, market

    def suspensions(self, event_id: str, market_id: str) -> int:
        """How many times this audience has seen the market suspended or settled (a bet held over
        one is refused, even when the market has reopened since)."""
        state = self.book.events.get(event_id)
        market = state.markets.get(market_id) if state is not None else None
        if market is None:
            return 0
        shown = market if self.view is None else market.views.get(self.view)
        return 0 if shown is None else shown.suspensions

    def delta(self, delta: Delta) -> Delta:
        """A delta restated as this audience sees it (selecting deltas is the filter's job)."""
        if delta.market_id is None:
            return delta
        if not offered(self.book, delta, self.visibility):
            # Only what it says of the event is told (the filter sends no other such delta).
            return replace(
                delta,
                market_id=None,
                market_type=None,
                line=None,
                suspended=None,
                margin=None,
                market_changed=False,
                outcomes=(),
                views=(),
                result=None,
            )
        if self.view is None:
            return delta
        view = next((v for v in delta.views if v.name == self.view), None)
        if view is None:
            # The change moved nothing this audience is shown; it still counts in the event's seq.
            shown = self._current(delta.event_id, delta.market_id)
            suspended = True if shown is None else shown.suspended
            margin = None if shown is None else shown.margin
            return replace(delta, suspended=suspended, margin=margin, outcomes=(), market_changed=False, views=())
        return replace(
            delta,
            suspended=view.suspended,
            margin=view.margin,
            outcomes=view.outcomes,
            market_changed=view.market_changed,
            views=(),
        )

    def _market(self, market: Market) -> Market | None:
        return viewed(market, self.view)

    def _current(self, event_id: str, market_id: str) -> MarketView | None:
        state = self.book.events.get(event_id)
        market = state.markets.get(market_id) if state is not None else None
        shown = market.views.get(self.view) if market is not None and self.view is not None else None
        if shown is None:
            return None
        return MarketView(self.view or "", shown.suspended, shown.margin, ())
