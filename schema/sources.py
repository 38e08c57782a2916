"""A source's health as it is served."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True, frozen=True)
class SourceStatus:
    """One vendor feed: when it was last heard, whether it counts as up, and its consensus weight."""

    source: str
    up: bool
    last_seen: datetime
    silent_seconds: float
    updates: int
    accuracy_weight: float
