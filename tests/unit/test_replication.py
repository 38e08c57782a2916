"""Replicas of the book built from deltas: parse round trips, absorb, restore, conflation."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.book import NotOwner, OddsBook
from feeds.conflate import ConflationKey, conflation_key, merge_deltas
from feeds.partitions import Ownership, partition_of, partition_set
from feeds.publish import encode_delta
from schema.model import Delta, EventStatus
from schema.parse import delta_from_json, event_from_json
from schema.render import event_json
from tests.unit.test_book import EVENT, Clock, q


def priced(clock: Clock, prices: list[tuple[str, str]]) -> tuple[OddsBook, list[Delta]]:
    deltas: list[Delta] = []
    book = OddsBook(clock=clock, sinks=[deltas.append])
    for step, (home, away) in enumerate(prices):
        clock.now += 1
        book.apply(q(clock, "a", home, away, status=EventStatus.LIVE if step else EventStatus.SCHEDULED))
    return book, deltas


def test_a_delta_survives_json_unchanged() -> None:
    clock = Clock()
    _, deltas = priced(clock, [("1.85", "2.10"), ("1.80", "2.20")])
    for delta in deltas:
        assert delta_from_json(orjson.loads(encode_delta(delta))) == delta


def test_a_replica_fed_the_deltas_serves_what_the_book_serves() -> None:
    clock = Clock()
    book, deltas = priced(clock, [("1.85", "2.10"), ("1.80", "2.20"), ("1.75", "2.25")])
    replica = OddsBook(clock=clock)
    assert all(replica.absorb(delta_from_json(orjson.loads(encode_delta(d)))) for d in deltas)
    assert event_json(replica.event(EVENT.id)) == event_json(book.event(EVENT.id))  # type: ignore[arg-type]


def test_absorb_refuses_duplicates_and_gaps() -> None:
    clock = Clock()
    _, deltas = priced(clock, [("1.85", "2.10"), ("1.80", "2.20"), ("1.75", "2.25")])
    replica = OddsBook(clock=clock)
    assert replica.absorb(deltas[0])
    assert not replica.absorb(deltas[0])
    assert not replica.absorb(deltas[2])
    assert replica.events[EVENT.id].seq == 1


def test_restore_takes_a_newer_snapshot_only() -> None:
    clock = Clock()
    book, _ = priced(clock, [("1.85", "2.10"), ("1.80", "2.20")])
    snapshot = event_from_json(orjson.loads(orjson.dumps(event_json(book.event(EVENT.id)))))  # type: ignore[arg-type]
    replica = OddsBook(clock=clock)
    assert replica.restore(snapshot)
    assert not replica.restore(snapshot)
    assert event_json(replica.event(EVENT.id)) == event_json(book.event(EVENT.id))  # type: ignore[arg-type]


def test_a_restored_owner_continues_the_sequence() -> None:
    clock = Clock()
    book, _ = priced(clock, [("1.85", "2.10"), ("1.80", "2.20")])
    snapshot = book.event(EVENT.id)
    assert snapshot is not None
    restarted = OddsBook(clock=clock)
    restarted.restore(snapshot)
    clock.now += 1
    [delta] = restarted.apply(q(clock, "a", "1.70", "2.30", status=EventStatus.LIVE))
    assert delta.seq == snapshot.seq + 1


def test_a_book_refuses_events_it_does_not_own() -> None:
    clock = Clock()
    ownership = Ownership(frozenset(), 4)
    book = OddsBook(clock=clock, owns=ownership.owns, describe_owner=ownership.describe)
    with pytest.raises(NotOwner, match="partition"):
        book.apply(q(clock))
    assert book.events == {}


def test_partition_specs() -> None:
    assert partition_set("all", 4) == {0, 1, 2, 3}
    assert partition_set("none", 4) == frozenset()
    assert partition_set("0-1, 3", 4) == {0, 1, 3}
    with pytest.raises(ValueError, match="outside"):
        partition_set("2-9", 4)
    with pytest.raises(ValueError, match="not a number"):
        partition_set("a-b", 4)
    # Stable across processes: crc32, not Python's salted hash.
    assert partition_of("49ers-ravens-2026-03-23", 16) == partition_of("49ers-ravens-2026-03-23", 16)
    assert Ownership(partition_set("all", 16), 16).owns("anything")


prices = st.lists(
    st.tuples(st.integers(101, 900), st.integers(101, 900)).map(
        lambda p: (str(Decimal(p[0]) / 100), str(Decimal(p[1]) / 100))
    ),
    min_size=2,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(prices)
def test_merged_deltas_leave_a_replica_where_the_deltas_would(series: list[tuple[str, str]]) -> None:
    clock = Clock()
    book, deltas = priced(clock, series)
    first, rest = deltas[0], deltas[1:]
    # What an outbox holds for a client that fell behind: the latest per market, in order of last change.
    behind: dict[ConflationKey, Delta] = {}
    for delta in rest:
        older = behind.pop(conflation_key(delta), None)
        behind[conflation_key(delta)] = delta if older is None else merge_deltas(older, delta)
    replica = OddsBook(clock=clock)
    replica.absorb(first)
    seqs = [merged.seq for merged in behind.values()]
    assert seqs == sorted(seqs)
    for merged in behind.values():
        # A merged delta stands for every seq up to its own; the replica takes it as the next one.
        replica.events[EVENT.id].seq = merged.seq - 1
        assert replica.absorb(merged)
    expected, got = book.event(EVENT.id), replica.event(EVENT.id)
    assert expected is not None
    assert got is not None
    assert [m.outcomes for m in got.markets] == [m.outcomes for m in expected.markets]
    assert (got.status, got.seq) == (expected.status, expected.seq)
