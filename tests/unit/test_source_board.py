"""Source health merged across processes: the one that heard a source last, up if any hears it."""

from __future__ import annotations

from typing import cast

from feeds.book import OddsBook
from feeds.live_store import RedisLiveStore
from feeds.source_board import SourceBoard
from tests.unit.test_book import Clock, q


class MemoryTables:
    """The two calls the board makes on the live store, kept in a dict."""

    def __init__(self) -> None:
        self.tables: dict[str, bytes] = {}

    async def save_sources(self, instance: str, body: bytes, ttl: float) -> None:
        self.tables[instance] = body

    async def all_sources(self) -> dict[str, bytes]:
        return dict(self.tables)


def board(clock: Clock, tables: MemoryTables) -> SourceBoard:
    return SourceBoard(OddsBook(clock=clock), cast(RedisLiveStore, tables), interval=1.0)


async def test_a_process_that_ingests_nothing_reports_what_the_others_hear() -> None:
    clock, tables = Clock(), MemoryTables()
    pricer_a, pricer_b, reader = board(clock, tables), board(clock, tables), board(clock, tables)
    pricer_a.book.apply(q(clock, "vendor_a", "1.85", "2.10"))
    clock.now += 2
    pricer_b.book.apply(q(clock, "vendor_a", "1.80", "2.20"))
    pricer_b.book.apply(q(clock, "vendor_b", "1.82", "2.15"))
    for process in (pricer_a, pricer_b, reader):
        await process.exchange()
    assert reader.book.sources == {}
    health = {s.name: (s.up, s.updates, s.last_seen) for s in reader.health()}
    assert health == {"vendor_a": (True, 2, clock.now), "vendor_b": (True, 1, clock.now)}
    # A pricer sees its own sources once, not again through Redis.
    assert {s.name: s.updates for s in pricer_b.health()} == {"vendor_a": 2, "vendor_b": 1}


async def test_a_source_is_down_only_when_every_process_that_heard_it_says_so() -> None:
    clock, tables = Clock(), MemoryTables()
    pricer_a, pricer_b, reader = board(clock, tables), board(clock, tables), board(clock, tables)
    pricer_a.book.apply(q(clock, "vendor_a", "1.85", "2.10"))
    pricer_b.book.apply(q(clock, "vendor_a", "1.85", "2.10"))
    pricer_a.book.sources["vendor_a"].up, pricer_a.book.sources["vendor_a"].down_since = False, clock.now
    for process in (pricer_a, pricer_b, reader):
        await process.exchange()
    assert [(s.up, s.down_since) for s in reader.health()] == [(True, None)]
    pricer_b.book.sources["vendor_a"].up, pricer_b.book.sources["vendor_a"].down_since = False, clock.now + 1
    await pricer_b.exchange()
    await reader.exchange()
    assert [(s.up, s.down_since) for s in reader.health()] == [(False, clock.now)]


async def test_the_sources_of_a_process_that_stopped_writing_count_as_down() -> None:
    clock, tables = Clock(), MemoryTables()
    pricer, reader = board(clock, tables), board(clock, tables)
    pricer.book.apply(q(clock, "vendor_a", "1.85", "2.10"))
    await pricer.exchange()
    await reader.exchange()
    written_at = clock.now
    assert [s.up for s in reader.health()] == [True]
    clock.now += 5
    assert [(s.up, s.down_since) for s in reader.health()] == [(False, written_at)]
