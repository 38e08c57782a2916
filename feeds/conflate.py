"""Folding several deltas of one market into one: what a client that skipped them needs to see."""

from __future__ import annotations

from dataclasses import replace

from schema.match import MatchState
from schema.model import Delta

ConflationKey = tuple[str, str | None]


def conflation_key(delta: Delta) -> ConflationKey:
    return delta.event_id, delta.market_id


def merge_deltas(older: Delta, newer: Delta) -> Delta:
    """The later delta, carrying every outcome and event change the earlier one had and it lacks."""
    if older.outcomes and newer.outcomes:
        merged = {o.id: o for o in older.outcomes}
        merged.update((o.id, o) for o in newer.outcomes)
        outcomes = tuple(merged.values())
    else:
        outcomes = newer.outcomes or older.outcomes
    return replace(
        newer,
        outcomes=outcomes,
        market_changed=older.market_changed or newer.market_changed,
        status=newer.status or older.status,
        event=newer.event or older.event,
        state=_merge_states(older, newer),
    )


def _merge_states(older: Delta, newer: Delta) -> MatchState | None:
    """The newer board with the incidents of both: a skipped delta's incidents are not lost."""
    if older.state is None or newer.state is None:
        return newer.state or older.state
    return replace(newer.state, incidents=(*older.state.incidents, *newer.state.incidents))
