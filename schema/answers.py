"""Whether a write made something or answered a repeated request with what it made before."""

from __future__ import annotations

from enum import Enum


class Made(Enum):
    CREATED = "created"
    # The same idempotency key (or the same result, reference) again: the first answer, unchanged.
    REPLAYED = "replayed"
