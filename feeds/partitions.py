"""Which process owns an event: events hash into partitions, and each process ingests its own.

One owner per event is what gives every event a single, ordered sequence across processes.
"""

from __future__ import annotations

import zlib


def partition_of(event_id: str, count: int) -> int:
    # crc32, not hash(): it must agree across processes and restarts.
    return zlib.crc32(event_id.encode()) % count


def partition_set(spec: str, count: int) -> frozenset[int]:
    """`all`, `none`, or a comma list of numbers and ranges (`0-7,12`); raises ValueError."""
    text = spec.strip().lower()
    if text == "all":
        return frozenset(range(count))
    if text in ("none", ""):
        return frozenset()
    owned: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"partitions: {part.strip()!r} is not a number or a range like 0-7") from None
        if not 0 <= first <= last < count:
            raise ValueError(f"partitions: {part.strip()!r} is outside 0-{count - 1}")
        owned.update(range(first, last + 1))
    return frozenset(owned)


class Ownership:
    def __init__(self, owned: frozenset[int], count: int):
        self.owned = owned
        self.count = count
        self.everything = len(owned) == count

    def owns(self, event_id: str) -> bool:
        return self.everything or partition_of(event_id, self.count) in self.owned

    def describe(self, event_id: str) -> str:
        return (
            f"event {event_id!r} is in partition {partition_of(event_id, self.count)}, which this gateway does not own"
        )
