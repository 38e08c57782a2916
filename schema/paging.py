"""A page of a listing: the one rule for `limit` and `offset`, whichever door asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from schema.errors import InvalidRequest

T = TypeVar("T")
MAX_PAGE = 500
DEFAULT_PAGE = 100
MAX_OFFSET = 1_000_000


@dataclass(slots=True, frozen=True)
class Page:
    """`limit` 1-500 (default 100), `offset` 0-1,000,000; anything else is INVALID_REQUEST."""

    limit: int = DEFAULT_PAGE
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidRequest(f"'limit' must be between 1 and {MAX_PAGE}, got {self.limit}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise InvalidRequest(f"'offset' must be between 0 and {MAX_OFFSET}, got {self.offset}")


@dataclass(slots=True, frozen=True)
class Paged(Generic[T]):
    """One page of a listing and how many there are in all."""

    items: list[T]
    total: int
    page: Page
