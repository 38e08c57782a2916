"""The audit trail of every served change, and the state of an event rebuilt from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from schema.match import KEPT_INCIDENTS
from schema.model import (
    Event,
    EventInfo,
    EventStatus,
    Market,
    MarketType,
    MarketView,
    Outcome,
    market_order,
    outcome_order,
)
from schema.parse import incident_from_json, result_from_json, state_from_json
from store.tables import AuditDeadLetterRow, AuditJournalRow, EventRow, OddsChangeRow

EventValues = dict[str, object]
ChangeValues = dict[str, object]
DeadLetterValues = dict[str, object]
_JOURNAL = AuditJournalRow.__table__  # type: ignore[attr-defined]
_DEAD = AuditDeadLetterRow.__table__  # type: ignore[attr-defined]


class AuditRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def append(
        self,
        events: Sequence[EventValues],
        changes: Sequence[ChangeValues],
        progress: Mapping[str, int] | None = None,
        dead: Sequence[DeadLetterValues] = (),
    ) -> None:
        """Upsert event descriptions, append changes and dead letters, and record how far each
        journal segment is written (`progress`: segment -> lines), all in one transaction."""
        async with self.engine.begin() as conn:
            upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            if events:
                # One row per event: a statement may not upsert the same key twice.
                latest = {str(values["id"]): values for values in events}
                stmt = upsert(EventRow)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={
                        "league": stmt.excluded.league,
                        "start_time": stmt.excluded.start_time,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
                await conn.execute(stmt, list(latest.values()))
            if changes:
                await conn.execute(insert(OddsChangeRow), list(changes))
            if dead:
                await conn.execute(insert(_DEAD), list(dead))
            if progress:
                mark = upsert(_JOURNAL)
                mark = mark.on_conflict_do_update(index_elements=["segment"], set_={"written": mark.excluded.written})
                await conn.execute(mark, [{"segment": name, "written": lines} for name, lines in progress.items()])

    async def journal_progress(self, segment: str) -> int:
        """Lines of a journal segment already in the audit."""
        async with self.engine.connect() as conn:
            found = await conn.execute(select(_JOURNAL.c.written).where(_JOURNAL.c.segment == segment))
            return int(found.scalar_one_or_none() or 0)

    async def forget_segments(self, segments: Sequence[str]) -> None:
        """Journal segments whose files are gone need no progress kept."""
        if segments:
            async with self.engine.begin() as conn:
                await conn.execute(delete(_JOURNAL).where(_JOURNAL.c.segment.in_(list(segments))))

    async def count(self, event_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(OddsChangeRow)
        if event_id is not None:
            stmt = stmt.where(OddsChangeRow.event_id == event_id)  # type: ignore[arg-type]
        async with self.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def has_market(self, event_id: str, market_id: str) -> bool:
        """Whether this market of this event was ever served (and audited)."""
        rows = OddsChangeRow.__table__  # type: ignore[attr-defined]
        query = select(rows.c.id).where(rows.c.event_id == event_id, rows.c.market_id == market_id).limit(1)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def event_at(
        self, event_id: str, at: datetime, market_id: str | None = None, view: str | None = None
    ) -> Event | None:
        """The event as it was served at `at`: the latest audited row per event, market and outcome;
        with `view`, each market also as that source-limited audience was served it then."""
        rows_table = OddsChangeRow.__table__  # type: ignore[attr-defined]
        upto = (rows_table.c.event_id == event_id) & (rows_table.c.changed_at <= at)
        upto &= rows_table.c.view.in_(("",) if view is None else ("", view))
        if market_id is not None:
            upto &= (rows_table.c.market_id == market_id) | rows_table.c.kind.in_(("event", "state"))
        latest = (
            select(func.max(rows_table.c.id))
            .where(upto)
            .group_by(rows_table.c.kind, rows_table.c.view, rows_table.c.market_id, rows_table.c.outcome_id)
        )
        async with self.engine.connect() as conn:
            info_row = (
                await conn.execute(select(EventRow.__table__).where(EventRow.__table__.c.id == event_id))  # type: ignore[attr-defined]
            ).first()
            if info_row is None:
                return None
            rows = (
                await conn.execute(select(rows_table).where(rows_table.c.id.in_(latest)).order_by(rows_table.c.id))
            ).all()
            incidents = (
                await conn.execute(
                    select(rows_table.c.state)
                    .where(rows_table.c.event_id == event_id, rows_table.c.changed_at <= at)
                    .where(rows_table.c.kind == "incident")
                    .order_by(rows_table.c.id.desc())
                    .limit(KEPT_INCIDENTS)
                )
            ).all()
        if not rows:
            return None
        info = EventInfo(
            info_row.id, info_row.sport, info_row.league, info_row.home_team, info_row.away_team, info_row.start_time
        )
        event = _fold(info, rows)
        board = next((row for row in reversed(rows) if row._mapping["kind"] == "state"), None)
        if board is None:
            return event
        kept = tuple(incident_from_json(row.state) for row in reversed(incidents))
        return replace(event, state=replace(state_from_json(board._mapping["state"]), incidents=kept))

    async def prices_between(
        self, event_id: str, market_id: str, since: datetime, until: datetime
    ) -> list[tuple[datetime, str, Decimal]]:
        """(time, outcome, odds) of a market's served prices from `since` to `until`, starting with
        each outcome's price as it stood at `since`."""
        rows_table = OddsChangeRow.__table__  # type: ignore[attr-defined]
        market = (
            (rows_table.c.event_id == event_id)
            & (rows_table.c.market_id == market_id)
            & (rows_table.c.kind == "outcome")
            & (rows_table.c.view == "")
        )
        before = (
            select(func.max(rows_table.c.id))
            .where(market, rows_table.c.changed_at < since)
            .group_by(rows_table.c.outcome_id)
        )
        columns = (rows_table.c.changed_at, rows_table.c.outcome_id, rows_table.c.new_odds)
        async with self.engine.connect() as conn:
            opening = (await conn.execute(select(*columns).where(rows_table.c.id.in_(before)))).all()
            window = (
                await conn.execute(
                    select(*columns)
                    .where(market, rows_table.c.changed_at >= since, rows_table.c.changed_at <= until)
                    .order_by(rows_table.c.id)
                )
            ).all()
        return [(max(at, since), outcome, odds) for at, outcome, odds in opening] + [tuple(r) for r in window]


def _fold(info: EventInfo, rows: Sequence[object]) -> Event:
    status = EventStatus.SCHEDULED
    seq = 0
    updated_at = info.start_time
    # By view ("" for everyone's price): each market's latest row, and its outcomes.
    markets: dict[str, dict[str, dict[str, object]]] = {}
    outcomes: dict[tuple[str, str], list[Outcome]] = {}
    for row in rows:
        r = row._mapping  # type: ignore[attr-defined]
        if r["seq"] >= seq:
            seq, updated_at = r["seq"], r["changed_at"]
        if r["kind"] == "event":
            status = EventStatus(r["status"])
        elif r["kind"] == "market":
            markets.setdefault(r["view"], {})[r["market_id"]] = dict(r)
        elif r["kind"] == "outcome":
            outcomes.setdefault((r["view"], r["market_id"]), []).append(
                Outcome(
                    r["outcome_id"],
                    r["outcome_name"],
                    r["new_odds"],
                    r["odds_updated_at"],
                    r["source_count"],
                    r["confidence"],
                    {name: Decimal(odds) for name, odds in (r["sources"] or {}).items()},
                    tuple(r["flags"] or ()),
                )
            )

    def served(view: str, market_id: str) -> tuple[Outcome, ...]:
        return tuple(sorted(outcomes.get((view, market_id), []), key=outcome_order))

    views = {name: found for name, found in markets.items() if name}
    built = sorted(
        (
            Market(
                market_id,
                MarketType(str(m["market_type"])),
                m["line"],  # type: ignore[arg-type]
                bool(m["suspended"]),
                m["margin"],  # type: ignore[arg-type]
                served("", market_id),
                tuple(
                    MarketView(name, bool(v["suspended"]), v["margin"], served(name, market_id))  # type: ignore[arg-type]
                    for name, found in views.items()
                    if (v := found.get(market_id)) is not None
                ),
                result_from_json(m["result"]),  # type: ignore[arg-type]
            )
            for market_id, m in markets.get("", {}).items()
        ),
        key=market_order,
    )
    return Event(info, status, seq, updated_at, tuple(built))
