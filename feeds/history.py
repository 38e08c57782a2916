"""The recent deltas of each event, kept so a client that reconnects gets exactly what it missed."""

from __future__ import annotations

from collections import deque

from schema.model import Delta


class DeltaHistory:
    def __init__(self, size: int):
        self.size = size
        self._events: dict[str, deque[Delta]] = {}

    def add(self, delta: Delta) -> None:
        ring = self._events.get(delta.event_id)
        if ring is None:
            ring = self._events[delta.event_id] = deque(maxlen=self.size)
        ring.append(delta)

    def since(self, event_id: str, seq: int, current: int) -> list[Delta] | None:
        """The deltas after `seq` up to `current`, or None when they are no longer all here."""
        if seq >= current:
            return [] if seq == current else None
        ring = self._events.get(event_id)
        if not ring or ring[0].seq > seq + 1 or ring[-1].seq != current:
            return None
        return [d for d in ring if d.seq > seq]

    def forget(self, event_id: str) -> None:
        self._events.pop(event_id, None)
