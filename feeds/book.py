"""The live odds book: current state per event, deltas with per-event sequence numbers.

Every change to what is served (a source quote, a status change, a quote growing stale) goes
through here and comes out as a Delta with the event's next `seq`, handed to the sinks in order.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from feeds.consensus import ConsensusConfig, MarketPrice, SourcePrices, aggregate
from feeds.normalize import outcome_name
from feeds.overrides import Override, OverrideSet, Scope
from schema.errors import InvalidRequest
from schema.match import Incident, MatchState, absorb_state, merge_state
from schema.model import (
    OUTCOMES,
    Delta,
    Event,
    EventInfo,
    EventStatus,
    Market,
    MarketQuote,
    MarketResult,
    MarketType,
    MarketView,
    Outcome,
    market_order,
)

log = logging.getLogger(__name__)

DeltaSink = Callable[[Delta], None]
SYSTEM_SOURCE = "oddsgate"


class StaleUpdate(InvalidRequest):
    code = "STALE_UPDATE"


class NotOwner(InvalidRequest):
    code = "NOT_OWNER"


@dataclass(slots=True, frozen=True)
class BookConfig:
    source_down_after: float = 60.0
    max_future_skew: float = 300.0
    auto_suspend: bool = True
    # Finished and cancelled events stay readable this long, then leave the live book (the audit keeps them).
    closed_retention: float = 3600.0


@dataclass(slots=True)
class SourceHealth:
    name: str
    last_seen: float
    updates: int = 0
    up: bool = True
    down_since: float | None = None


@dataclass(slots=True)
class Shown:
    """What one audience is served of a market: its outcomes, margin and suspension reasons."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    margin: Decimal | None = None
    reasons: frozenset[str] = frozenset()
    # How many times the market was suspended (or settled) for this audience: a bet held over a
    # suspension is refused even when the market is open again by the time it is checked.
    suspensions: int = 0

    @property
    def suspended(self) -> bool:
        return bool(self.reasons)


@dataclass(slots=True)
class MarketState(Shown):
    id: str = ""
    type: MarketType = MarketType.MONEYLINE
    line: Decimal | None = None
    outcome_ids: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)
    books: dict[str, SourcePrices] = field(default_factory=dict)
    last_timestamp: dict[str, datetime] = field(default_factory=dict)
    suspended_by: set[str] = field(default_factory=set)
    repriced_at: float = 0.0
    # Each source-limited audience's served state (see `OddsBook.views`).
    views: dict[str, Shown] = field(default_factory=dict)
    result: MarketResult | None = None


def new_epoch() -> str:
    """A fresh epoch: the event's sequence starts over, and nothing before it can be replayed."""
    return secrets.token_hex(4)


@dataclass(slots=True)
class EventState:
    info: EventInfo
    status: EventStatus
    seq: int = 0
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    markets: dict[str, MarketState] = field(default_factory=dict)
    announce: bool = True
    snapshot: Event | None = None
    closed_at: float | None = None
    state: MatchState | None = None
    # Every incident id reported, oldest first (a dict keeps order), beyond those the state keeps.
    seen_incidents: dict[str, None] = field(default_factory=dict)
    # The run of `seq`: new whenever an event's state starts afresh in a book that prices it (a
    # process that started without it), kept by replicas and by snapshots.
    epoch: str = field(default_factory=new_epoch)


class OddsBook:
    def __init__(
        self,
        config: BookConfig | None = None,
        consensus: ConsensusConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sinks: Iterable[DeltaSink] = (),
        owns: Callable[[str], bool] | None = None,
        describe_owner: Callable[[str], str] | None = None,
        views: Mapping[str, frozenset[str]] | None = None,
    ):
        self.config = config or BookConfig()
        # Events this process prices; the others are replicas fed by `absorb`.
        self.owns = owns or (lambda _event_id: True)
        self._describe_owner = describe_owner or (lambda event_id: f"event {event_id!r} is owned elsewhere")
        self.consensus = consensus or ConsensusConfig()
        self.clock = clock
        self.sinks: list[DeltaSink] = list(sinks)
        self.events: dict[str, EventState] = {}
        self.sources: dict[str, SourceHealth] = {}
        self.overrides = OverrideSet()
        # Audiences limited to some sources (by view name): each is priced from its sources alone,
        # through the same consensus, suspension and override steps as everyone's price.
        self.views: dict[str, frozenset[str]] = dict(views or {})
        # Settled markets, by (event, market): frozen at their last price until rolled back.
        self.results: dict[tuple[str, str], MarketResult] = {}

    # -- writing -------------------------------------------------------------------------------

    def apply(self, quote: MarketQuote) -> list[Delta]:
        """Apply one normalized quote; raises StaleUpdate/InvalidRequest and changes nothing if refused."""
        now = self.clock()
        if not self.owns(quote.event.id):
            raise NotOwner(self._describe_owner(quote.event.id))
        if quote.timestamp.timestamp() > now + self.config.max_future_skew:
            raise InvalidRequest(f"timestamp {quote.timestamp.isoformat()} is in the future")
        event = self.events.get(quote.event.id)
        market = event.markets.get(quote.market_id) if event is not None and quote.market_id else None
        if market is not None:
            last = market.last_timestamp.get(quote.source)
            if last is not None and quote.timestamp < last:
                raise StaleUpdate(
                    f"update from {quote.source} at {quote.timestamp.isoformat()} is older than "
                    f"its last one for {quote.event.id} {market.id} ({last.isoformat()})"
                )
        if quote.market_id is not None:
            # Liveness is about prices: a feed's fixture or status messages do not make it a source.
            self._saw(quote.source, now)
        deltas: list[Delta] = []
        stamp = datetime.fromtimestamp(now, UTC)
        if event is None:
            event = EventState(quote.event, quote.status or EventStatus.SCHEDULED, updated_at=stamp)
            event.closed_at = now if event.status.closed else None
            self.events[event.info.id] = event
        elif quote.event is not event.info and quote.event != event.info:
            merged = _merge_info(event.info, quote.event)
            if merged != event.info:
                event.info, event.announce, event.snapshot = merged, True, None
        if quote.status is not None and quote.status != event.status:
            deltas.extend(self._set_status(event, quote.status, quote.source, stamp, now))
        if quote.state is not None:
            moved = merge_state(event.state, quote.state, event.seen_incidents)
            if moved is not None:
                # Before the prices the same report moves: subscribers see the cause, then the effect.
                event.state = moved[0]
                _remember(event.seen_incidents, quote.state.incidents)
                deltas.append(self._emit(event, stamp, quote.source, "state", state=moved[1]))
        if quote.market_id is not None and quote.market_type is not None:
            if market is None:
                market = self._new_market(event, quote)
            market.last_timestamp[quote.source] = quote.timestamp
            self._take_prices(market, quote, now)
            delta = self._reprice(event, market, now, stamp, quote.source, "quote")
            if delta is not None:
                deltas.append(delta)
        elif event.announce and not deltas:
            deltas.append(self._emit(event, stamp, quote.source, "event"))
        return deltas

    def sweep(self) -> list[Delta]:
        """Mark silent sources down and reprice markets whose quotes have aged."""
        now = self.clock()
        stamp = datetime.fromtimestamp(now, UTC)
        for health in self.sources.values():
            if health.up and now - health.last_seen > self.config.source_down_after:
                health.up, health.down_since = False, now
                log.warning("source %s is down: silent for %.0fs", health.name, now - health.last_seen)
        deltas: list[Delta] = []
        expired: list[str] = []
        for event in self.events.values():
            if event.status.closed:
                if event.closed_at is not None and now - event.closed_at > self.config.closed_retention:
                    expired.append(event.info.id)
                continue
            for market in event.markets.values():
                if not self._aging(market, now):
                    continue
                delta = self._reprice(event, market, now, stamp, SYSTEM_SOURCE, "freshness")
                if delta is not None:
                    deltas.append(delta)
        for event_id in expired:
            del self.events[event_id]
        if expired:
            gone = set(expired)
            self.results = {key: result for key, result in self.results.items() if key[0] not in gone}
        return deltas

    def override(self, override: Override) -> tuple[Override | None, list[Delta]]:
        """Put a trader override in force: the override it replaces, and a delta per market it changes."""
        replaced = self.overrides.add(override)
        return replaced, self._reprice_scope(override.scope)

    def lift(self, override_id: str) -> tuple[Override | None, list[Delta]]:
        """Take an override out of force: it, and a delta per market that changes back."""
        lifted = self.overrides.remove(override_id)
        return lifted, [] if lifted is None else self._reprice_scope(lifted.scope)

    def settle(self, event_id: str, market_id: str, result: MarketResult | None) -> Delta | None:
        """Mark a market settled with its result (or, with None, reopen it after a rollback): a
        delta on the market when this book prices its event and it is in the book."""
        key = (event_id, market_id)
        if result is None:
            self.results.pop(key, None)
        else:
            self.results[key] = result
        event = self.events.get(event_id)
        market = event.markets.get(market_id) if event is not None else None
        if event is None or market is None or not self.owns(event_id) or market.result == result:
            return None
        market.result = result
        now = self.clock()
        return self._reprice(event, market, now, datetime.fromtimestamp(now, UTC), SYSTEM_SOURCE, "settlement")

    def markets_in(self, scope: Scope) -> list[tuple[EventInfo, str]]:
        """The (event, market) pairs of this book's own events that a scope covers."""
        found: list[tuple[EventInfo, str]] = []
        events = [self.events[scope.event_id]] if scope.event_id in self.events else []
        for event in events if scope.event_id is not None else self.events.values():
            if not self.owns(event.info.id):
                continue
            found.extend(
                (event.info, market.id)
                for market in event.markets.values()
                if replace(scope, outcome_id=None).covers(event.info, market.id)
            )
        return found

    def _reprice_scope(self, scope: Scope) -> list[Delta]:
        now = self.clock()
        stamp = datetime.fromtimestamp(now, UTC)
        deltas: list[Delta] = []
        for info, market_id in self.markets_in(scope):
            event = self.events[info.id]
            delta = self._reprice(event, event.markets[market_id], now, stamp, SYSTEM_SOURCE, "override")
            if delta is not None:
                deltas.append(delta)
        return deltas

    def absorb(self, delta: Delta) -> bool:
        """Apply a delta priced by another process; False (and nothing changes) when it is not the
        event's next one: already seen, or after a gap the caller must repair first."""
        event = self.events.get(delta.event_id)
        if event is None:
            if delta.event is None:
                return False
            event = EventState(delta.event, delta.status or EventStatus.SCHEDULED, announce=False, epoch=delta.epoch)
            self.events[delta.event_id] = event
        elif delta.seq != event.seq + 1 or delta.epoch != event.epoch:
            return False
        now = self.clock()
        event.seq, event.updated_at, event.snapshot = delta.seq, delta.timestamp, None
        if delta.event is not None:
            event.info = delta.event
        if delta.status is not None:
            event.status = delta.status
            event.closed_at = now if delta.status.closed else None
        if delta.state is not None:
            event.state = absorb_state(event.state, delta.state)
        if delta.market_id is not None and delta.market_type is not None:
            market = event.markets.get(delta.market_id)
            if market is None:
                market = _market_state(event.info, delta.market_id, delta.market_type, delta.line)
                event.markets[market.id] = market
            _replicate(market, delta.outcomes, delta.margin, delta.suspended)
            for view in delta.views:
                _replicate(market.views.setdefault(view.name, Shown()), view.outcomes, view.margin, view.suspended)
            market.result = delta.result
        return True

    def restore(self, snapshot: Event, *, replace_equal: bool = False) -> bool:
        """Take an event's whole state from a snapshot newer than what this book has (or as new,
        with `replace_equal`, when the book's state is known to have missed changes)."""
        current = self.events.get(snapshot.info.id)
        # Seqs only compare within one run: a snapshot of another epoch is taken as it is.
        if (
            current is not None
            and current.epoch == snapshot.epoch
            and (current.seq > snapshot.seq or (current.seq == snapshot.seq and not replace_equal))
        ):
            return False
        state = EventState(
            snapshot.info,
            snapshot.status,
            snapshot.seq,
            snapshot.updated_at,
            announce=False,
            epoch=snapshot.epoch or new_epoch(),
        )
        state.state = snapshot.state
        if snapshot.state is not None:
            _remember(state.seen_incidents, snapshot.state.incidents)
        state.closed_at = self.clock() if snapshot.status.closed else None
        for m in snapshot.markets:
            market = _market_state(snapshot.info, m.id, m.type, m.line)
            _replicate(market, m.outcomes, m.margin, m.suspended)
            for view in m.views:
                _replicate(market.views.setdefault(view.name, Shown()), view.outcomes, view.margin, view.suspended)
            market.result = m.result
            state.markets[m.id] = market
        self.events[snapshot.info.id] = state
        return True

    def rebase(self, event_id: str, seq: int) -> None:
        """Go on from `seq` after deltas were lost for good, so the replica keeps taking new ones."""
        state = self.events.get(event_id)
        if state is not None and seq > state.seq:
            state.seq = seq

    # -- reading -------------------------------------------------------------------------------

    def event(self, event_id: str) -> Event | None:
        state = self.events.get(event_id)
        return None if state is None else self._snapshot(state)

    # -- internals -----------------------------------------------------------------------------

    def _aging(self, market: MarketState, now: float) -> bool:
        """Whether time alone can change the market's price: a quote is losing weight, or has
        dropped out since the last reprice. A long-dead quote changes nothing and costs nothing."""
        fresh, stale = self.consensus.fresh_seconds, self.consensus.stale_seconds
        for book in market.books.values():
            age = now - book.received_at
            if fresh < age < stale or (age >= stale and book.received_at + stale > market.repriced_at):
                return True
        return False

    def _saw(self, source: str, now: float) -> None:
        health = self.sources.get(source)
        if health is None:
            self.sources[source] = SourceHealth(source, now, 1)
            return
        health.last_seen = now
        health.updates += 1
        if not health.up:
            log.info("source %s is back after %.0fs", source, now - (health.down_since or now))
            health.up, health.down_since = True, None

    def _set_status(
        self, event: EventState, status: EventStatus, source: str, stamp: datetime, now: float
    ) -> list[Delta]:
        event.status = status
        event.closed_at = now if status.closed else None
        deltas = [self._emit(event, stamp, source, "status", status=status)]
        for market in event.markets.values():
            delta = self._reprice(event, market, now, stamp, source, "status")
            if delta is not None:
                deltas.append(delta)
        return deltas

    def _new_market(self, event: EventState, quote: MarketQuote) -> MarketState:
        assert quote.market_id is not None
        assert quote.market_type is not None
        market = _market_state(event.info, quote.market_id, quote.market_type, quote.line)
        market.result = self.results.get((event.info.id, market.id))
        event.markets[market.id] = market
        return market

    def _take_prices(self, market: MarketState, quote: MarketQuote, now: float) -> None:
        if quote.suspended:
            market.books.pop(quote.source, None)
            market.suspended_by.add(quote.source)
            return
        market.suspended_by.discard(quote.source)
        previous = market.books.get(quote.source)
        accuracy = previous.accuracy if previous is not None else self.consensus.weight(quote.source)
        odds = dict(previous.odds) if previous is not None else {}
        for outcome_id, price in quote.prices:
            if price is None:
                odds.pop(outcome_id, None)
            else:
                odds[outcome_id] = price
        market.books[quote.source] = SourcePrices.of(odds, market.outcome_ids, accuracy, now)

    def _reprice(
        self, event: EventState, market: MarketState, now: float, stamp: datetime, source: str, reason: str
    ) -> Delta | None:
        if market.result is not None and reason != "settlement" and (market.outcomes or market.reasons):
            # A settled market keeps its last prices until the settlement is rolled back.
            return None
        market.repriced_at = now
        outcomes, margin, reasons = self._serve(event, market, market, market.books, market.suspended_by, now, stamp)
        changed, market_changed = _changes(market, outcomes, margin, reasons)
        views: list[MarketView] = []
        for name, allowed in self.views.items():
            shown = market.views.get(name)
            if shown is None:
                if not (allowed & market.books.keys() or allowed & market.suspended_by):
                    # None of its sources has quoted the market: it is not offered to this audience.
                    continue
                shown = market.views[name] = Shown()
            books = {s: book for s, book in market.books.items() if s in allowed}
            served = self._serve(event, market, shown, books, market.suspended_by & allowed, now, stamp)
            view_changed, view_market_changed = _changes(shown, *served)
            if view_changed or view_market_changed:
                _show(shown, *served)
                views.append(MarketView(name, shown.suspended, shown.margin, view_changed, view_market_changed))
        if not changed and not market_changed and not views:
            return None
        _show(market, outcomes, margin, reasons)
        return self._emit(
            event,
            stamp,
            source,
            reason,
            market_id=market.id,
            market_type=market.type,
            line=market.line,
            suspended=market.suspended,
            margin=margin,
            market_changed=market_changed,
            outcomes=changed,
            views=tuple(views),
            result=market.result,
        )

    def _serve(
        self,
        event: EventState,
        market: MarketState,
        shown: Shown,
        books: Mapping[str, SourcePrices],
        suspended_by: set[str],
        now: float,
        stamp: datetime,
    ) -> tuple[dict[str, Outcome], Decimal | None, frozenset[str]]:
        """What an audience priced from `books` is served now: the consensus of those sources,
        their suspension, then the trader's overrides. Everyone's price and every source-limited
        audience's price go through here, so the rules and flags are the same for all."""
        if market.result is not None:
            return shown.outcomes, shown.margin, frozenset({"settled"})
        price = aggregate(market.outcome_ids, books, now, self.consensus)
        reasons = self._suspension(event, suspended_by, books, shown.outcomes, price)
        if price.outcomes:
            outcomes = {o: _outcome(market.names, books, shown.outcomes, o, price, stamp) for o in market.outcome_ids}
            margin = price.margin
        else:
            # No fresh price: keep showing the last one, marked stale, unless the market is suspended.
            outcomes = {o: _mark_stale(old) for o, old in shown.outcomes.items()}
            margin = shown.margin
        if self.overrides.active:
            outcomes, margin = self.overrides.apply(event.info, market.id, outcomes, margin)
            # An unchanged served price keeps its time, whatever the consensus underneath did.
            for o, new in outcomes.items():
                old = shown.outcomes.get(o)
                if old is not None and old.odds == new.odds and old.updated_at != new.updated_at:
                    outcomes[o] = replace(new, updated_at=old.updated_at)
            if self.overrides.suspended(event.info, market.id):
                reasons = reasons | {"override"}
        return outcomes, margin, reasons

    def _suspension(
        self,
        event: EventState,
        suspended_by: set[str],
        books: Mapping[str, SourcePrices],
        shown: dict[str, Outcome],
        price: MarketPrice,
    ) -> frozenset[str]:
        if event.status.closed:
            return frozenset({"event_closed"})
        if price.outcomes:
            return frozenset()
        if suspended_by and not any(book.odds for book in books.values()):
            return frozenset({"sources_suspended"})
        if not shown:
            return frozenset({"incomplete"})
        if event.status is EventStatus.LIVE and self.config.auto_suspend:
            return frozenset({"no_fresh_source"})
        return frozenset()

    def _emit(self, event: EventState, stamp: datetime, source: str, reason: str, **change: Any) -> Delta:
        event.seq += 1
        event.updated_at = stamp
        event.snapshot = None
        info = event.info if event.announce else None
        if event.announce:
            # The first delta of an event describes it fully, status included.
            change.setdefault("status", event.status)
            event.announce = False
        delta = Delta(
            event.info.id, event.info.sport, event.seq, stamp, source, reason, event=info, epoch=event.epoch, **change
        )
        for sink in self.sinks:
            sink(delta)
        return delta

    def _snapshot(self, state: EventState) -> Event:
        if state.snapshot is None:
            markets = tuple(
                sorted(
                    (
                        Market(
                            m.id,
                            m.type,
                            m.line,
                            m.suspended,
                            m.margin,
                            tuple(m.outcomes.values()),
                            tuple(_view(name, shown) for name, shown in m.views.items()),
                            m.result,
                        )
                        for m in state.markets.values()
                        if m.outcomes or m.suspended
                    ),
                    key=market_order,
                )
            )
            state.snapshot = Event(
                state.info, state.status, state.seq, state.updated_at, markets, state.state, state.epoch
            )
        return state.snapshot


def _market_state(info: EventInfo, market_id: str, market_type: MarketType, line: Decimal | None) -> MarketState:
    ids = OUTCOMES[market_type]
    names = {o: outcome_name(info, market_type, line, o) for o in ids}
    return MarketState(id=market_id, type=market_type, line=line, outcome_ids=ids, names=names)


def _outcome(
    names: dict[str, str],
    books: Mapping[str, SourcePrices],
    shown: dict[str, Outcome],
    outcome_id: str,
    price: MarketPrice,
    stamp: datetime,
) -> Outcome:
    served = price.outcomes[outcome_id]
    old = shown.get(outcome_id)
    updated_at = old.updated_at if old is not None and old.odds == served.odds else stamp
    sources = {name: book.odds[outcome_id] for name, book in books.items() if outcome_id in book.odds}
    return Outcome(
        outcome_id,
        names[outcome_id],
        served.odds,
        updated_at,
        served.source_count,
        served.confidence,
        sources,
        served.flags,
    )


def _changes(
    shown: Shown, outcomes: dict[str, Outcome], margin: Decimal | None, reasons: frozenset[str]
) -> tuple[tuple[Outcome, ...], bool]:
    """The outcomes that change what the audience is shown, and whether the market itself does."""
    changed = tuple(new for o, new in outcomes.items() if shown.outcomes.get(o) != new)
    is_new = not shown.outcomes and not shown.reasons and shown.margin is None
    return changed, is_new or reasons != shown.reasons or margin != shown.margin


def _show(shown: Shown, outcomes: dict[str, Outcome], margin: Decimal | None, reasons: frozenset[str]) -> None:
    if reasons and not shown.reasons:
        shown.suspensions += 1
    shown.outcomes, shown.margin, shown.reasons = outcomes, margin, reasons


def _replicate(shown: Shown, outcomes: Iterable[Outcome], margin: Decimal | None, suspended: bool | None) -> None:
    """Take what the pricer served to one audience, as a delta or snapshot told it."""
    merged = dict(shown.outcomes)
    merged.update((o.id, o) for o in outcomes)
    _show(shown, merged, margin, frozenset({"replicated"}) if suspended else frozenset())


def _view(name: str, shown: Shown) -> MarketView:
    return MarketView(name, shown.suspended, shown.margin, tuple(shown.outcomes.values()))


SEEN_INCIDENTS = 10_000


def _remember(seen: dict[str, None], incidents: Iterable[Incident]) -> None:
    seen.update((incident.id, None) for incident in incidents)
    while len(seen) > SEEN_INCIDENTS:
        del seen[next(iter(seen))]


def _mark_stale(outcome: Outcome) -> Outcome:
    if "stale" in outcome.flags:
        return outcome
    return replace(outcome, flags=(*outcome.flags, "stale"), confidence=0.0)


def _merge_info(current: EventInfo, reported: EventInfo) -> EventInfo:
    """A later report may fill in a missing league; vendors' start times differ by minutes, so the
    first one reported stays rather than flipping with every vendor."""
    if current.league or not reported.league:
        return current
    return replace(current, league=reported.league)
