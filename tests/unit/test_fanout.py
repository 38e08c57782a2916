"""The hub in one process: routing by event and sport, resume history, resync after an overflow."""

from __future__ import annotations

import asyncio

from feeds.book import OddsBook
from feeds.broadcast import Broadcast
from feeds.fanout import Hub, Published
from feeds.publish import BroadcastSink
from schema.model import EventStatus
from tests.unit.test_book import EVENT, OTHER, Clock, q


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.resets: list[str] = []

    def deliver(self, item: Published) -> None:
        self.seen.append((item.delta.event_id, item.delta.seq))

    def reset(self, event_id: str) -> None:
        self.resets.append(event_id)


async def running() -> tuple[OddsBook, Hub, Broadcast, Clock]:
    clock = Clock()
    broadcast = Broadcast()
    await broadcast.connect()
    sink = BroadcastSink(broadcast)
    book = OddsBook(clock=clock, sinks=[sink])
    hub = Hub(broadcast, book, history_size=3)
    sink.local = hub.accept_local
    await hub.start()
    return book, hub, broadcast, clock


async def settle() -> None:
    """A few turns of the loop: in one process the hub hands deltas out at once, so anything that
    arrives later would come from a task of its own, and would have run by now."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_listeners_get_their_events_and_sports_once() -> None:
    book, hub, broadcast, clock = await running()
    by_event, by_sport, everything, both = Recorder(), Recorder(), Recorder(), Recorder()
    hub.listen(by_event, events=[EVENT.id])
    hub.listen(by_sport, sports=["basketball"])
    hub.listen(everything)
    hub.listen(both, events=[EVENT.id], sports=["american_football"])
    book.apply(q(clock, event=EVENT))
    book.apply(q(clock, event=OTHER))
    await settle()
    assert by_event.seen == [(EVENT.id, 1)]
    assert by_sport.seen == []
    assert everything.seen == [(EVENT.id, 1), (OTHER.id, 1)]
    assert both.seen == [(EVENT.id, 1), (OTHER.id, 1)]
    hub.unlisten(everything)
    book.apply(q(clock, "b", event=OTHER, home="1.90"))
    await settle()
    assert everything.seen == [(EVENT.id, 1), (OTHER.id, 1)]
    await hub.stop()
    await broadcast.disconnect()


async def test_since_returns_what_was_missed_or_none_when_too_old() -> None:
    book, hub, broadcast, clock = await running()
    for step in range(5):
        clock.now += 1
        book.apply(q(clock, home=f"1.{80 + step}", status=EventStatus.SCHEDULED))
    await settle()
    assert hub.seen[EVENT.id] == 5
    missed = hub.since(EVENT.id, 3)
    assert missed is not None
    assert [d.seq for d in missed] == [4, 5]
    assert hub.since(EVENT.id, 5) == []
    assert hub.since(EVENT.id, 1) is None  # only the last 3 are kept
    assert hub.since(EVENT.id, 9) is None  # from the future: resync
    assert hub.since("unknown", 0) == []
    await hub.stop()
    await broadcast.disconnect()


async def test_events_that_leave_the_book_are_forgotten() -> None:
    book, hub, broadcast, clock = await running()
    book.apply(q(clock))
    book.apply(q(clock, event=OTHER))
    await settle()
    del book.events[EVENT.id]
    hub.prune()
    assert set(hub.seen) == {OTHER.id}
    assert hub.since(EVENT.id, 0) == []
    await hub.stop()
    await broadcast.disconnect()
