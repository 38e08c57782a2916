"""One payload through adapter -> normalize -> book; bad items are reported, good ones kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feeds.adapters.base import Adapter, Rejection
from feeds.book import OddsBook
from feeds.normalize import Normalizer
from schema.errors import Forbidden, NotFound, OddsgateError
from schema.visibility import EVERYTHING, Visibility


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    deltas: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": [
                {"index": r.index, "code": r.code, "reason": r.reason, **({"path": r.path} if r.path else {})}
                for r in self.rejected
            ],
            "deltas": self.deltas,
        }


class Ingestor:
    def __init__(self, book: OddsBook, normalizer: Normalizer, adapters: dict[str, Adapter]):
        self.book = book
        self.normalizer = normalizer
        self.adapters = adapters

    def adapter(self, name: str) -> Adapter:
        adapter = self.adapters.get(name)
        if adapter is None:
            known = ", ".join(sorted(self.adapters))
            raise NotFound(f"unknown feed adapter {name!r} (known: {known})")
        return adapter

    def ingest(
        self, adapter_name: str, payload: bytes, source: str | None = None, visibility: Visibility = EVERYTHING
    ) -> IngestResult:
        """Raises InvalidRequest only when the payload as a whole cannot be read. Updates for
        sports outside `visibility` (the feed's token) are refused one by one."""
        result = IngestResult()
        for index, item in enumerate(self.adapter(adapter_name).parse(payload, source)):
            if isinstance(item, Rejection):
                result.rejected.append(item)
                continue
            try:
                quote = self.normalizer.normalize(item)
                info = quote.event
                if not visibility.sees_event(info.sport, info.league):
                    raise Forbidden(f"this token may not feed {info.league or info.sport} ({info.id})")
                deltas = self.book.apply(quote)
            except OddsgateError as exc:
                result.rejected.append(Rejection(index, exc.message, code=exc.code))
                continue
            result.accepted += 1
            result.deltas += len(deltas)
        return result
