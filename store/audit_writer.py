"""Appends every delta to the audit trail in batches, off the odds path.

The book's publisher hands each delta and its JSON to `record`, before any client can receive it:
the JSON goes to the journal on disk (one write), the delta to a queue. A background task turns
queued deltas into rows and writes them every `interval` seconds or `batch` rows; the transaction
that writes them also records how far the journal is written, and a journal segment whose every
line is written is removed.

What cannot be written waits without loss: while the database is away the rows stay queued (and in
the journal), and a shutdown that cannot write them leaves them in the journal for the next start.
A batch the database refuses because of what is in it is split until the refused rows are alone;
those go to the dead-letter table with the error, and every other row is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from schema.model import Delta, MarketView
from schema.parse import delta_from_json
from schema.render import event_info_json, incident_json, result_json, state_json
from schema.text import escaped
from store.audit import AuditRepository, ChangeValues, DeadLetterValues, EventValues
from store.audit_journal import AuditJournal, Segment

log = logging.getLogger(__name__)
# SQLSTATE classes that blame the rows, not the database: data exceptions (a NUL byte, a string
# too long, a number out of range) and integrity constraint violations.
_ROW_FAULTS = ("22", "23")


def rows_at_fault(exc: BaseException) -> bool:
    """Whether a failed write failed because of its rows (so it can never succeed as it is),
    rather than because the database is away or busy (so it will, later)."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        state = getattr(exc.orig, "sqlstate", None)
        return isinstance(state, str) and state[:2] in _ROW_FAULTS
    # Refused while binding parameters (a value the column type cannot hold): never sent at all.
    return isinstance(exc, StatementError)


@dataclass(slots=True)
class _Unit:
    """One journal line's rows: a delta's, or a dead letter for a line that cannot be read."""

    event_id: str
    seq: int
    segment: Segment
    line: int
    events: list[EventValues] = field(default_factory=list)
    changes: list[ChangeValues] = field(default_factory=list)
    dead: list[DeadLetterValues] = field(default_factory=list)
    written: bool = False
    # How many rows it made, to cut batches by: set once made.
    rows: int = 0


class AuditWriter:
    def __init__(
        self,
        repository: AuditRepository,
        journal: AuditJournal,
        *,
        method: str,
        method_version: int,
        interval: float = 0.25,
        batch: int = 2000,
        shutdown_timeout: float = 10.0,
    ):
        self.repository = repository
        self.journal = journal
        self.method = method
        self.method_version = method_version
        self.interval = interval
        self.batch = batch
        self.shutdown_timeout = shutdown_timeout
        self.written = 0
        self.failures = 0
        self.dead_lettered = 0
        self.recovered = 0
        # A delta, or a journal line left by a stopped process that could not be read back.
        self._pending: deque[tuple[Delta | bytes, Segment, int]] = deque()
        # Built once (they carry the previous price) and kept until written.
        self._units: deque[_Unit] = deque()
        self._unit_rows = 0
        self._open: set[Segment] = set()
        self._previous: dict[tuple[str, str, str, str], Decimal] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._stopped = False

    @property
    def backlog(self) -> int:
        """Deltas not yet in the audit."""
        return len(self._pending) + len(self._units)

    def record(self, delta: Delta, payload: bytes) -> None:
        """Journal the delta (its JSON) and queue it; called before the delta is published."""
        segment, line = self.journal.append(payload)
        self._open.add(segment)
        self._pending.append((delta, segment, line))
        if len(self._pending) >= self.batch:
            self._wake.set()

    async def recover(self) -> int:
        """Queue, ahead of anything new, the deltas that processes stopped before writing: the
        journal segments nobody holds, from the line their last transaction reached."""
        found: list[tuple[Delta | bytes, Segment, int]] = []
        for segment, lines in self.journal.orphans():
            segment.written = await self.repository.journal_progress(segment.name)
            self._open.add(segment)
            for number, line in enumerate(lines, start=1):
                if number <= segment.written:
                    continue
                try:
                    found.append((delta_from_json(orjson.loads(line)), segment, number))
                except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                    log.error("journal %s line %d cannot be read (%s); it is dead-lettered", segment.name, number, exc)
                    found.append((line, segment, number))
            if segment.done:
                await self._release([segment])
        if found:
            log.warning("writing %d audited deltas that a stopped process left in the journal", len(found))
        self._pending.extendleft(reversed(found))
        self.recovered += len(found)
        return len(found)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")
        if self._pending:
            # What was recovered is written at once, not after the first interval.
            self._wake.set()

    async def stop(self) -> None:
        """Write what can be written in `shutdown_timeout`; the rest stays in the journal. The
        wait is bounded even when the database is not: a write stuck on a lock or a lost server
        is abandoned (its transaction rolls back), never waited out."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        final = asyncio.ensure_future(self.flush())
        await asyncio.wait({final}, timeout=self.shutdown_timeout)
        if not final.done():
            final.cancel()
            await asyncio.wait({final}, timeout=1.0)
        written = final.done() and not final.cancelled() and final.exception() is None
        if not written:
            failed = final.done() and not final.cancelled()
            reason = repr(final.exception()) if failed else f"not done within {self.shutdown_timeout:g} s"
            # Whatever the abandoned write does from here, it no longer touches the journal, and
            # its end (an error, most likely) is retrieved here rather than reported as unhandled.
            self._stopped = True
            final.add_done_callback(lambda task: task.cancelled() or task.exception())
            log.warning(
                "audit: %d deltas could not be written before shutdown (%s); they stay in the journal %s "
                "and are written at the next start",
                sum(segment.appended - segment.written for segment in self._open),
                reason,
                self.journal.directory,
            )
        self._close_segments()

    def _close_segments(self) -> None:
        self.journal.write()
        for segment in self._open:
            self.journal.close(segment)
        self._open.clear()

    async def flush(self) -> None:
        async with self._flush_lock:
            while self._pending or self._units:
                # Rows are made a batch at a time, so a long backlog never holds the loop for long.
                while self._pending and self._unit_rows < self.batch:
                    unit = self._unit(*self._pending.popleft())
                    self._units.append(unit)
                    self._unit_rows += unit.rows
                batch: list[_Unit] = []
                rows = 0
                while self._units and (not batch or rows + self._units[0].rows <= self.batch):
                    unit = self._units.popleft()
                    batch.append(unit)
                    rows += unit.rows
                self._unit_rows -= rows
                try:
                    await self._write(batch)
                except BaseException:
                    # Back in front, but for what a split did write: the order is kept for the retry.
                    back = [unit for unit in batch if not unit.written]
                    self._units.extendleft(reversed(back))
                    self._unit_rows += sum(unit.rows for unit in back)
                    self.failures += 1
                    raise
            if not self._pending and not self._units:
                # Everything appended so far is written: the current segment can go.
                self.journal.seal()
            await self._release([s for s in self._open if s.done])

    async def _write(self, units: list[_Unit]) -> None:
        try:
            await self.repository.append(
                [values for unit in units for values in unit.events],
                [values for unit in units for values in unit.changes],
                _progress(units),
                [letter for unit in units for letter in unit.dead],
            )
        except Exception as exc:
            if not rows_at_fault(exc):
                raise
            if len(units) > 1:
                middle = len(units) // 2
                await self._write(units[:middle])
                await self._write(units[middle:])
                return
            await self._write_alone(units[0])
            return
        self._done(units)

    async def _write_alone(self, unit: _Unit) -> None:
        """Each row of a delta the database refused, in its own transaction; the ones still refused
        are dead-lettered. A written row leaves the unit, so a retry never writes it twice."""
        for kind, rows in (("event", unit.events), ("change", unit.changes)):
            for values in list(rows):
                try:
                    if kind == "event":
                        await self.repository.append([values], [])
                    else:
                        await self.repository.append([], [values])
                except Exception as exc:
                    if not rows_at_fault(exc):
                        raise
                    unit.dead.append(self._dead_letter(unit, str(values.get("kind", kind)), values, exc))
                else:
                    if kind == "change":
                        self.written += 1
                rows.remove(values)
        # The dead letters and how far the journal is written, in one transaction.
        await self.repository.append([], [], _progress([unit]), unit.dead)
        self._done([unit])

    def _done(self, units: list[_Unit]) -> None:
        for unit in units:
            unit.written = True
            unit.segment.written = max(unit.segment.written, unit.line)
            self.written += len(unit.changes)
            self.dead_lettered += len(unit.dead)
            for letter in unit.dead:
                log.error(
                    "an audit row of %s seq %s was refused by the database and dead-lettered: %s",
                    letter["event_id"],
                    letter["seq"],
                    letter["error"],
                )

    async def _release(self, segments: list[Segment]) -> None:
        if not segments or self._stopped:
            return
        for segment in segments:
            self.journal.remove(segment)
            self._open.discard(segment)
        try:
            await self.repository.forget_segments([s.name for s in segments])
        except Exception as exc:
            # A stale progress row names a file that no longer exists: it is never read again.
            log.warning("forgetting written journal segments failed (%s)", exc)

    @staticmethod
    def _dead_letter(unit: _Unit, kind: str, values: object, error: object) -> DeadLetterValues:
        row = orjson.dumps(values, default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS).decode()
        reason = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        return {
            "event_id": escaped(unit.event_id, 200),
            "seq": unit.seq,
            "kind": kind[:16],
            "error": escaped(reason, 2000),
            "row": escaped(row, 1_000_000),
            "created_at": datetime.now(UTC),
        }

    def _unit(self, delta: Delta | bytes, segment: Segment, line: int) -> _Unit:
        if isinstance(delta, bytes):
            unit = _Unit("", 0, segment, line)
            unit.dead.append(
                self._dead_letter(unit, "journal", delta.decode(errors="replace"), "unreadable journal line")
            )
            unit.rows = 1
            return unit
        unit = _Unit(delta.event_id, delta.seq, segment, line)
        common = {
            "event_id": delta.event_id,
            "seq": delta.seq,
            "changed_at": delta.timestamp,
            "source": delta.source,
            "reason": delta.reason,
            "method": self.method,
            "method_version": self.method_version,
        }
        if delta.event is not None:
            info = delta.event
            unit.events.append({**event_info_json(info), "first_seen": delta.timestamp, "updated_at": delta.timestamp})
        if delta.status is not None:
            unit.changes.append({**_EMPTY, **common, "kind": "event", "status": delta.status.value})
        if delta.state is not None:
            # The board, then each new incident on its own row: the history reads the latest board
            # and the latest incidents, however many board changes came in between.
            board = state_json(replace(delta.state, incidents=()))
            unit.changes.append({**_EMPTY, **common, "kind": "state", "state": board})
            unit.changes.extend(
                {**_EMPTY, **common, "kind": "incident", "state": incident_json(i)} for i in delta.state.incidents
            )
        if delta.market_id is not None:
            market = {
                "market_id": delta.market_id,
                "market_type": delta.market_type.value if delta.market_type else None,
                "line": delta.line,
            }
            everyone = MarketView("", bool(delta.suspended), delta.margin, delta.outcomes, delta.market_changed)
            for served in (everyone, *delta.views):
                unit.changes.extend(self._market_rows(delta, common, market, served))
        unit.rows = len(unit.changes) + len(unit.events)
        return unit

    def _market_rows(
        self,
        delta: Delta,
        common: Mapping[str, object],
        market: Mapping[str, object],
        served: MarketView,
    ) -> list[ChangeValues]:
        """What one audience (view ""; everyone) was served of a market by this delta."""
        view = served.name
        rows: list[ChangeValues] = []
        if served.market_changed:
            result = result_json(delta.result)
            rows.append(
                {
                    **_EMPTY,
                    **common,
                    **market,
                    "kind": "market",
                    "view": view,
                    "suspended": served.suspended,
                    "margin": served.margin,
                    "result": result,
                }
            )
        for outcome in served.outcomes:
            key = (delta.event_id, delta.market_id or "", outcome.id, view)
            previous = self._previous.get(key)
            self._previous[key] = outcome.odds
            rows.append(
                {
                    **_EMPTY,
                    **common,
                    **market,
                    "kind": "outcome",
                    "view": view,
                    "outcome_id": outcome.id,
                    "outcome_name": outcome.name,
                    "prev_odds": previous,
                    "new_odds": outcome.odds,
                    "odds_updated_at": outcome.updated_at,
                    "sources": {name: str(odds) for name, odds in outcome.sources.items()},
                    "source_count": outcome.source_count,
                    "confidence": outcome.confidence,
                    "flags": list(outcome.flags),
                }
            )
        return rows

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("audit flush failed; %d deltas kept for retry", self.backlog)
                await asyncio.sleep(min(5.0, self.interval * 4))


def _progress(units: list[_Unit]) -> dict[str, int]:
    """How far each journal segment is written once these units are: they are in journal order,
    so each segment's last unit holds its furthest line."""
    return {unit.segment.name: unit.line for unit in units}


_EMPTY: dict[str, object] = {
    "view": "",
    "result": None,
    "status": None,
    "market_id": None,
    "market_type": None,
    "line": None,
    "suspended": None,
    "margin": None,
    "outcome_id": None,
    "outcome_name": None,
    "prev_odds": None,
    "new_odds": None,
    "odds_updated_at": None,
    "sources": None,
    "source_count": None,
    "confidence": None,
    "flags": None,
    "state": None,
}
