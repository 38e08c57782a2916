"""Appends every delta to the audit trail in batches, off the odds path.

The book hands deltas to `__call__`, which only appends them; a background task turns them into
rows and writes them every `interval` seconds or `batch` deltas. Nothing is dropped: a failed
write keeps its rows and is retried, and the backlog is visible to readiness checks and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import replace
from decimal import Decimal

from schema.model import Delta
from schema.render import incident_json, state_json
from store.audit import AuditRepository, ChangeValues, EventValues

log = logging.getLogger(__name__)


class AuditWriter:
    def __init__(
        self,
        repository: AuditRepository,
        *,
        method: str,
        method_version: int,
        interval: float = 0.25,
        batch: int = 2000,
    ):
        self.repository = repository
        self.method = method
        self.method_version = method_version
        self.interval = interval
        self.batch = batch
        self.written = 0
        self.failures = 0
        self._events: dict[str, EventValues] = {}
        self._pending: deque[Delta] = deque()
        self._changes: list[ChangeValues] = []
        self._previous: dict[tuple[str, str, str], Decimal] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()

    @property
    def backlog(self) -> int:
        return len(self._pending) + len(self._changes)

    def __call__(self, delta: Delta) -> None:
        self._pending.append(delta)
        if len(self._pending) >= self.batch:
            self._wake.set()

    def _rows(self, delta: Delta) -> None:
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
            self._events[info.id] = {
                "id": info.id,
                "sport": info.sport,
                "league": info.league,
                "home_team": info.home_team,
                "away_team": info.away_team,
                "start_time": info.start_time,
                "first_seen": delta.timestamp,
                "updated_at": delta.timestamp,
            }
        if delta.status is not None:
            self._changes.append({**_EMPTY, **common, "kind": "event", "status": delta.status.value})
        if delta.state is not None:
            # The board, then each new incident on its own row: the history reads the latest board
            # and the latest incidents, however many board changes came in between.
            board = state_json(replace(delta.state, incidents=()))
            self._changes.append({**_EMPTY, **common, "kind": "state", "state": board})
            self._changes.extend(
                {**_EMPTY, **common, "kind": "incident", "state": incident_json(i)} for i in delta.state.incidents
            )
        if delta.market_id is not None:
            market = {
                "market_id": delta.market_id,
                "market_type": delta.market_type.value if delta.market_type else None,
                "line": delta.line,
            }
            if delta.market_changed:
                self._changes.append(
                    {
                        **_EMPTY,
                        **common,
                        **market,
                        "kind": "market",
                        "suspended": delta.suspended,
                        "margin": delta.margin,
                    }
                )
            for outcome in delta.outcomes:
                key = (delta.event_id, delta.market_id, outcome.id)
                previous = self._previous.get(key)
                self._previous[key] = outcome.odds
                self._changes.append(
                    {
                        **_EMPTY,
                        **common,
                        **market,
                        "kind": "outcome",
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

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        async with self._flush_lock:
            while self._pending or self._changes or self._events:
                # Rows are made a batch at a time, so a long backlog never holds the loop for long.
                while self._pending and len(self._changes) < self.batch:
                    self._rows(self._pending.popleft())
                events, self._events = list(self._events.values()), {}
                changes, self._changes = self._changes[: self.batch], self._changes[self.batch :]
                try:
                    await self.repository.append(events, changes)
                except Exception:
                    # Put the rows back in front so order is kept for the retry.
                    self._changes[:0] = changes
                    for values in events:
                        self._events.setdefault(str(values["id"]), values)
                    self.failures += 1
                    raise
                self.written += len(changes)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("audit flush failed; %d rows kept for retry", self.backlog)
                await asyncio.sleep(min(5.0, self.interval * 4))


_EMPTY: dict[str, object] = {
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
