"""feeds.resume: what a subscription opens with (snapshots, the deltas missed, a reset snapshot) and
how a subscriber resynchronises when the hub loses deltas, on the hub and book of one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from feeds.audience import Audience
from feeds.book import OddsBook
from feeds.broadcast import Broadcast
from feeds.fanout import Hub
from feeds.filters import DeltaFilter
from feeds.outbox import Outbox
from feeds.publish import BroadcastSink
from feeds.resume import Position, Snapshot, Subscriber, opening, positions, shown
from schema.errors import InvalidRequest
from schema.model import Delta, EventInfo, EventStatus, MarketType
from schema.visibility import EVERYTHING
from tests.unit.test_book import EVENT, OTHER, START, Clock, q

NBA = EventInfo("lakers-celtics-2026-03-23", "basketball", "NBA", "Los Angeles Lakers", "Boston Celtics", START)
ONE = DeltaFilter(event_ids=frozenset({EVENT.id}))
NFL = DeltaFilter(sport="american_football")


@dataclass
class Running:
    book: OddsBook
    hub: Hub
    clock: Clock

    def price(self, home: str, event: EventInfo = EVENT, market: MarketType = MarketType.MONEYLINE) -> None:
        self.clock.now += 1
        self.book.apply(q(self.clock, home=home, event=event, market=market, status=EventStatus.SCHEDULED))


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    clock = Clock()
    broadcast = Broadcast()
    await broadcast.connect()
    sink = BroadcastSink(broadcast)
    book = OddsBook(clock=clock, sinks=[sink])
    hub = Hub(broadcast, book, history_size=3)
    sink.local = hub.accept_local
    await hub.start()
    yield Running(book, hub, clock)
    await hub.stop()
    await broadcast.disconnect()


def shape(items: list[Delta | Snapshot]) -> list[tuple[str, str, int, bool]]:
    """(kind, event, seq, reset) of what a subscription opens with."""
    found = []
    for item in items:
        if isinstance(item, Snapshot):
            seq = item.event.seq if item.event is not None else 0
            found.append(("snapshot", item.event_id, seq, item.reset))
        else:
            found.append(("delta", item.event_id, item.seq, False))
    return found


async def test_a_new_subscription_opens_with_a_snapshot_of_each_event_it_selects(running: Running) -> None:
    running.price("1.85")
    running.price("1.75", event=OTHER)
    running.price("1.60", event=NBA)
    assert shape(opening(running.hub, [NFL], {}, snapshots=True)) == [
        ("snapshot", EVENT.id, 1, False),
        ("snapshot", OTHER.id, 1, False),
    ]
    assert shape(opening(running.hub, [ONE], {}, snapshots=True)) == [("snapshot", EVENT.id, 1, False)]
    assert opening(running.hub, [NFL], {}, snapshots=False) == []


async def test_since_replays_what_was_missed_or_resets_when_it_cannot(running: Running) -> None:
    for home in ("1.80", "1.81", "1.82", "1.83", "1.84"):
        running.price(home)
    running.price("1.75", event=OTHER)
    epoch = running.book.events[EVENT.id].epoch
    hub = running.hub

    def resumed(since: Position, selection: DeltaFilter = ONE) -> list[tuple[str, str, int, bool]]:
        return shape(opening(hub, [selection], {EVENT.id: since}, snapshots=True))

    assert resumed(Position(3, epoch), NFL) == [
        ("delta", EVENT.id, 4, False),
        ("delta", EVENT.id, 5, False),
        ("snapshot", OTHER.id, 1, False),
    ]
    # Older than the history (it keeps 3), or counted in another run of the sequence: a reset.
    assert resumed(Position(1, epoch)) == [("snapshot", EVENT.id, 5, True)]
    assert resumed(Position(4, "other")) == [("snapshot", EVENT.id, 5, True)]
    # Without an epoch the seq is taken as it is; up to date is nothing at all.
    assert resumed(Position(4)) == [("delta", EVENT.id, 5, False)]
    assert resumed(Position(5, epoch)) == []
    # An event the subscription does not select is left out; one this process does not hold resets.
    assert opening(hub, [ONE], {OTHER.id: Position(0)}, snapshots=False) == []
    assert shape(opening(hub, [ONE], {"gone": Position(7)}, snapshots=False)) == [("snapshot", "gone", 0, True)]


async def test_a_snapshot_shows_only_the_markets_selected() -> None:
    clock = Clock()
    book = OddsBook(clock=clock)
    book.apply(q(clock, status=EventStatus.SCHEDULED))
    book.apply(q(clock, market=MarketType.SPREAD, line=None, status=EventStatus.SCHEDULED))
    event = book.event(EVENT.id)
    assert event is not None
    audience = Audience(book, EVERYTHING)
    spreads = DeltaFilter(sport="american_football", market_types=frozenset({MarketType.SPREAD}))
    assert [m.type for m in shown(event, [spreads], audience).markets] == [MarketType.SPREAD]
    assert len(shown(event, [spreads, ONE], audience).markets) == 2
    assert shown(event, [DeltaFilter(sport="basketball")], audience).markets == ()


def test_positions_are_checked() -> None:
    assert positions([("a", 4, None), ("b", 0, "e1")], "usage") == {"a": Position(4), "b": Position(0, "e1")}
    for bad in (-1, True, "4", None):
        with pytest.raises(InvalidRequest, match="usage"):
            positions([("a", bad, None)], "usage")
    with pytest.raises(InvalidRequest):
        positions([("a", 4, "e" * 65)], "usage")


def subscriber(running: Running, selection: DeltaFilter) -> tuple[Subscriber[str], Outbox[str]]:
    def render(delta: Delta, marked: bool) -> str:
        return f"{'marked' if marked else 'delta'} {delta.event_id} {delta.seq}"

    def render_snapshot(snapshot: Snapshot) -> str:
        assert snapshot.event is not None
        return f"{'reset' if snapshot.reset else 'snapshot'} {snapshot.event_id} {snapshot.event.seq}"

    outbox: Outbox[str] = Outbox(100, 5.0, lambda delta: render(delta, True))
    return Subscriber(running.hub, selection, outbox, render, render_snapshot), outbox


async def drain(outbox: Outbox[str]) -> list[str]:
    return [await outbox.get() for _ in range(len(outbox))]


async def test_a_sequence_that_starts_over_is_one_reset_snapshot_and_no_repeat(running: Running) -> None:
    running.price("1.80")
    running.price("1.81")
    listener, outbox = subscriber(running, ONE)
    listener.start({}, snapshots=True)
    # The event leaves this book and comes back: its sequence starts over in a new epoch.
    del running.book.events[EVENT.id]
    running.price("1.90")
    running.price("1.91")
    listener.stop()
    running.price("1.92")
    assert await drain(outbox) == [f"snapshot {EVENT.id} 2", f"reset {EVENT.id} 1", f"delta {EVENT.id} 2"]


async def test_a_reset_of_an_event_the_book_does_not_hold_marks_its_next_delta(running: Running) -> None:
    listener, outbox = subscriber(running, NFL)
    # An event this process does not hold cannot be resumed over GraphQL: it is left out.
    listener.start({"unknown": Position(3)}, snapshots=True)
    listener.reset(EVENT.id)
    running.price("1.80")
    running.price("1.81")
    assert await drain(outbox) == [f"marked {EVENT.id} 1", f"delta {EVENT.id} 2"]
