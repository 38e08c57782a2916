"""Odds in, as every door takes them (REST, vendor feeds, the demo feed): the scope, the backlog
guard, then the ingestor, measured."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auth.access import AccessControl
from auth.principal import Principal
from feeds.ingest import Ingestor, IngestResult
from schema.errors import Unavailable
from schema.visibility import EVERYTHING, Visibility

INGEST = "odds:ingest"


@dataclass(slots=True, frozen=True)
class Backlog:
    """Work waiting to be written out that ingest would add to (audit rows, Redis messages)."""

    label: str
    what: str
    size: Callable[[], int]


class Ingesting:
    def __init__(
        self,
        ingestor: Ingestor,
        access: AccessControl,
        backlogs: Sequence[Backlog],
        limit: int,
        observe: Callable[[str, IngestResult, float], None],
        refused: Callable[[str], None],
    ):
        self.ingestor = ingestor
        self.access = access
        self.backlogs = backlogs
        self.limit = limit
        self.observe = observe
        self.refused = refused

    def ingest(self, principal: Principal, adapter: str, payload: bytes, source: str | None) -> IngestResult:
        """A feed's payload from a token with `odds:ingest`: updates outside its sports are refused
        one by one; the whole payload is UNAVAILABLE while the backlog is full."""
        self.access.admit(principal, INGEST)
        self.ingestor.adapter(adapter)
        self.admit()
        return self.run(adapter, payload, source, self.access.visibility(principal))

    def admit(self) -> None:
        """Refuse a feed's payload while what it would add cannot be written out: the feed retries
        later, rather than the process buffering without bound and dropping the oldest."""
        for backlog in self.backlogs:
            waiting = backlog.size()
            if waiting >= self.limit:
                self.refused(backlog.label)
                raise Unavailable(f"ingest paused: {waiting} {backlog.what} (limit {self.limit}); retry shortly")

    def run(
        self, adapter: str, payload: bytes, source: str | None = None, visibility: Visibility = EVERYTHING
    ) -> IngestResult:
        """The payload through its adapter, measured (the demo feed calls this directly)."""
        started = time.perf_counter()
        result = self.ingestor.ingest(adapter, payload, source, visibility)
        self.observe(adapter, result, time.perf_counter() - started)
        return result
