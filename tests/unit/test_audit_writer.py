"""The audit writer keeps every row through a failed write and writes them in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schema.model import Delta, EventInfo, EventStatus, MarketType, Outcome
from store.audit import AuditRepository, ChangeValues, EventValues
from store.audit_writer import AuditWriter

NOW = datetime(2026, 3, 23, 19, 0, tzinfo=UTC)
INFO = EventInfo("a-b-2026-03-23", "football", "Premier League", "A", "B", NOW)


class FlakyRepository(AuditRepository):
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.events: list[EventValues] = []
        self.changes: list[ChangeValues] = []

    async def append(self, events: Sequence[EventValues], changes: Sequence[ChangeValues]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        self.events.extend(events)
        self.changes.extend(changes)


def delta(seq: int, home: str) -> Delta:
    outcome = Outcome("home", "A", Decimal(home), NOW, 1, 0.5, {"s": Decimal(home)}, ())
    return Delta(
        INFO.id,
        INFO.sport,
        seq,
        NOW,
        "s",
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


async def test_a_failed_write_loses_nothing_and_keeps_order() -> None:
    repository = FlakyRepository(failures=1)
    writer = AuditWriter(repository, method="m", method_version=1, batch=3)
    for seq, home in enumerate(["2.0", "2.1", "2.2", "2.3"], start=1):
        writer(delta(seq, home))
    assert writer.backlog == 4
    with pytest.raises(ConnectionError):
        await writer.flush()
    assert repository.changes == []
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
    assert writer.written == 6
    assert writer.failures == 1
