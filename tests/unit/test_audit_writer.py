"""The audit writer: nothing lost through a failed write, a refused row dead-lettered alone, the
journal written back after a crash and removed once written."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from feeds.publish import encode_delta
from schema.model import Delta, EventInfo, EventStatus, MarketType, Outcome
from store.audit import AuditRepository, ChangeValues, DeadLetterValues, EventValues
from store.audit_journal import AuditJournal
from store.audit_writer import AuditWriter, rows_at_fault

NOW = datetime(2026, 3, 23, 19, 0, tzinfo=UTC)
INFO = EventInfo("a-b-2026-03-23", "football", "Premier League", "A", "B", NOW)


class _Refused(Exception):
    sqlstate = "22021"


def data_error() -> DBAPIError:
    return DBAPIError("INSERT ...", {}, _Refused("invalid byte sequence for encoding UTF8: 0x00"))


class FakeRepository(AuditRepository):
    """Commits what it is given unless told to fail: `away` times as a lost database, and always for
    any row whose source is 'poison', as PostgreSQL does for a NUL byte."""

    def __init__(self, away: int = 0) -> None:
        self.away = away
        self.events: list[EventValues] = []
        self.changes: list[ChangeValues] = []
        self.dead: list[DeadLetterValues] = []
        self.progress: dict[str, int] = {}
        self.forgotten: list[str] = []

    async def append(
        self,
        events: Sequence[EventValues],
        changes: Sequence[ChangeValues],
        progress: Mapping[str, int] | None = None,
        dead: Sequence[DeadLetterValues] = (),
    ) -> None:
        if self.away:
            self.away -= 1
            raise OperationalError("connect", {}, ConnectionRefusedError("database went away"))
        if any(c["source"] == "poison" for c in changes):
            raise data_error()
        self.events.extend(events)
        self.changes.extend(changes)
        self.dead.extend(dead)
        self.progress.update(progress or {})

    async def journal_progress(self, segment: str) -> int:
        return self.progress.get(segment, 0)

    async def forget_segments(self, segments: Sequence[str]) -> None:
        self.forgotten.extend(segments)


def delta(seq: int, home: str, source: str = "s") -> Delta:
    outcome = Outcome("home", "A", Decimal(home), NOW, 1, 0.5, {source: Decimal(home)}, ())
    return Delta(
        INFO.id,
        INFO.sport,
        seq,
        NOW,
        source,
        "quote",
        market_id="1x2",
        market_type=MarketType.THREE_WAY,
        suspended=False,
        margin=Decimal("5"),
        market_changed=seq == 1,
        outcomes=(outcome,),
        status=EventStatus.LIVE if seq == 1 else None,
        event=INFO if seq == 1 else None,
    )


def writer_for(repository: AuditRepository, journal: Path, batch: int = 3) -> AuditWriter:
    return AuditWriter(repository, AuditJournal(journal), method="m", method_version=1, batch=batch)


def record(writer: AuditWriter, *deltas: Delta) -> None:
    for d in deltas:
        writer.record(d, encode_delta(d))


def segments(journal: Path) -> list[Path]:
    return sorted(journal.glob("*.jsonl"))


async def test_a_failed_write_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    repository = FakeRepository(away=1)
    writer = writer_for(repository, tmp_path)
    record(writer, *(delta(seq, home) for seq, home in enumerate(["2.0", "2.1", "2.2", "2.3"], start=1)))
    assert writer.backlog == 4
    with pytest.raises(OperationalError):
        await writer.flush()
    assert repository.changes == []
    assert len(segments(tmp_path)) == 1
    await writer.flush()
    assert writer.backlog == 0
    kinds = [(c["seq"], c["kind"]) for c in repository.changes]
    assert kinds == [(1, "event"), (1, "market"), (1, "outcome"), (2, "outcome"), (3, "outcome"), (4, "outcome")]
    outcome_rows = [c for c in repository.changes if c["kind"] == "outcome"]
    assert [(c["prev_odds"], c["new_odds"]) for c in outcome_rows] == [
        (None, Decimal("2.0")),
        (Decimal("2.0"), Decimal("2.1")),
        (Decimal("2.1"), Decimal("2.2")),
        (Decimal("2.2"), Decimal("2.3")),
    ]
    assert [e["id"] for e in repository.events] == [INFO.id]
    assert (writer.written, writer.failures, writer.dead_lettered) == (6, 1, 0)
    # Caught up: the segment is gone, and so is its progress.
    assert segments(tmp_path) == []
    assert repository.forgotten == list(repository.progress)


async def test_a_row_the_database_refuses_is_dead_lettered_and_the_rest_written(tmp_path: Path) -> None:
    repository = FakeRepository()
    writer = writer_for(repository, tmp_path, batch=100)
    record(writer, delta(1, "2.0"), delta(2, "2.1"), delta(3, "2.2", source="poison"), delta(4, "2.3"))
    await writer.flush()
    assert [c["seq"] for c in repository.changes if c["kind"] == "outcome"] == [1, 2, 4]
    [letter] = repository.dead
    assert (letter["event_id"], letter["seq"], letter["kind"]) == (INFO.id, 3, "outcome")
    assert "0x00" in str(letter["error"])
    assert '"source":"poison"' in str(letter["row"])
    assert (writer.backlog, writer.dead_lettered) == (0, 1)
    assert segments(tmp_path) == []


async def test_a_crashed_process_journal_is_written_once_by_the_next(tmp_path: Path) -> None:
    repository = FakeRepository()
    first = writer_for(repository, tmp_path, batch=2)
    record(first, delta(1, "2.0"), delta(2, "2.1"), delta(3, "2.2"), delta(4, "2.3"), delta(5, "2.4"))
    # Killed after its first transaction (seq 1 and 2): its lock goes with its file descriptors.
    await first._write([first._unit(*first._pending.popleft()), first._unit(*first._pending.popleft())])
    first.journal.write()
    for segment in list(first._open):
        os.close(segment.fd)
    [left] = segments(tmp_path)
    with left.open("ab") as journal:
        journal.write(b'{"cut short')

    second = writer_for(repository, tmp_path, batch=100)
    assert await second.recover() == 3
    await second.flush()
    assert [c["seq"] for c in repository.changes if c["kind"] == "outcome"] == [1, 2, 3, 4, 5]
    assert segments(tmp_path) == []
    assert second.recovered == 3


async def test_a_journal_line_that_cannot_be_read_is_dead_lettered(tmp_path: Path) -> None:
    repository = FakeRepository()
    first = writer_for(repository, tmp_path)
    record(first, delta(1, "2.0"))
    first.journal.append(b'{"event_id": "x", "seq": "not a delta"}')
    first.journal.write()
    for segment in list(first._open):
        os.close(segment.fd)
    second = writer_for(repository, tmp_path)
    assert await second.recover() == 2
    await second.flush()
    assert [c["seq"] for c in repository.changes if c["kind"] == "outcome"] == [1]
    [letter] = repository.dead
    assert letter["kind"] == "journal"
    assert "not a delta" in str(letter["row"])
    assert segments(tmp_path) == []


async def test_a_live_process_segments_are_not_taken(tmp_path: Path) -> None:
    repository = FakeRepository()
    live = writer_for(repository, tmp_path)
    record(live, delta(1, "2.0"))
    other = writer_for(repository, tmp_path)
    assert await other.recover() == 0
    await live.flush()
    assert len(repository.changes) == 3


def test_what_blames_the_rows_and_what_blames_the_database() -> None:
    assert rows_at_fault(data_error())
    assert not rows_at_fault(OperationalError("connect", {}, ConnectionRefusedError()))
    assert not rows_at_fault(TimeoutError())


async def test_a_line_is_on_disk_before_any_task_woken_after_it_runs(tmp_path: Path) -> None:
    """What makes the journal safe to batch: a client's writer only runs once woken, and a task
    woken after a line was appended finds it already written."""
    journal = AuditJournal(tmp_path)
    woken = asyncio.Event()

    async def client_writer() -> bytes:
        await woken.wait()
        return b"".join(path.read_bytes() for path in segments(tmp_path))

    sending = asyncio.ensure_future(client_writer())
    await asyncio.sleep(0)  # one turn of the loop: the writer is waiting before the lines come
    journal.append(b'{"seq": 1}')
    journal.append(b'{"seq": 2}')
    woken.set()
    assert await sending == b'{"seq": 1}\n{"seq": 2}\n'
