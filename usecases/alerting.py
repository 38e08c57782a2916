"""Alerts on their way out: to GraphQL and /ws listeners at once, to the database in batches, and
to other processes through Redis. Raising never waits on any of them."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from feeds.alerts import Alert
from feeds.book import OddsBook
from feeds.broadcast import Broadcast
from schema.visibility import Visibility
from store.alerts import AlertRepository

log = logging.getLogger(__name__)
ALERTS_CHANNEL = "oddsgate.alerts"
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_RECENT = 4096
_BACKLOG = 100_000

# Where an event is: its (sport, league).
Place = tuple[str, str]


def place_of(book: OddsBook, event_id: str) -> Place | None:
    """The event's sport and league as the live book has them; None once it has left the book
    (or before this process's book has it)."""
    state = book.events.get(event_id)
    return None if state is None else (state.info.sport, state.info.league)


def sees_place(visibility: Visibility, place: Place | None) -> bool:
    """Whether `visibility` sees what happened on an event at `place`. An event the book cannot
    place is seen only by a caller who sees every sport: a narrower caller must not get it on the
    chance that it is one of theirs."""
    if place is None:
        return visibility.sports is None
    return visibility.sees_event(*place)


@dataclass(eq=False, slots=True)
class AlertListener:
    visibility: Visibility
    deliver: Callable[[Alert], None]


class AlertService:
    def __init__(self, broadcast: Broadcast, repository: AlertRepository, book: OddsBook):
        self.broadcast = broadcast
        self.repository = repository
        self.book = book
        self.raised = 0
        self._listeners: set[AlertListener] = set()
        self._pending: deque[dict[str, Any]] = deque(maxlen=_BACKLOG)
        self._recent: deque[str] = deque(maxlen=_RECENT)
        self._recent_ids: set[str] = set()
        # Anything else that wants alerts as they are raised (webhooks).
        self.observers: list[Callable[[Alert], None]] = []

    def raise_alert(self, alert: Alert) -> None:
        self.raised += 1
        self._pending.append(_row(alert))
        self._deliver(alert)
        if self.broadcast.redis is not None:
            self._remember(alert.id)
            self.broadcast.publish(ALERTS_CHANNEL, orjson.dumps(alert.json(), option=_OPTIONS))

    def add_listener(self, visibility: Visibility, deliver: Callable[[Alert], None]) -> AlertListener:
        listener = AlertListener(visibility, deliver)
        self._listeners.add(listener)
        return listener

    def remove_listener(self, listener: AlertListener) -> None:
        self._listeners.discard(listener)

    async def stream(self, visibility: Visibility, queue_size: int = 256) -> AsyncIterator[Alert]:
        """Alerts as they are raised; a reader that falls behind loses the oldest, not the newest."""
        queue: asyncio.Queue[Alert] = asyncio.Queue(queue_size)

        def offer(alert: Alert) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(alert)

        listener = self.add_listener(visibility, offer)
        try:
            while True:
                yield await queue.get()
        finally:
            self.remove_listener(listener)

    async def list(self, visibility: Visibility, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """Stored alerts, as the live ones: only those on events `visibility` sees, and those on
        no event (a source down)."""
        return await self.repository.list(visibility=visibility, **filters)

    async def flush(self) -> None:
        rows = list(self._pending)
        if rows:
            await self.repository.append(rows)
            for _ in rows:
                self._pending.popleft()

    async def write_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                # Kept for the next try; the odds path never waits on this.
                log.exception("writing %d alerts failed; kept for retry", len(self._pending))

    async def follow(self) -> None:
        """Alerts other processes raised (Redis), to this process's listeners."""
        await self.broadcast.follow(ALERTS_CHANNEL, self._relay, self._lost)

    def _relay(self, raw: bytes) -> None:
        alert = _alert(orjson.loads(raw))
        if alert.id not in self._recent_ids:
            self._deliver(alert)

    async def _lost(self) -> None:
        # Alerts are kept in the database, not replayed to live listeners.
        log.warning("alert listeners fell behind; some alerts reached only the database")

    def _deliver(self, alert: Alert) -> None:
        for observer in self.observers:
            observer(alert)
        place = place_of(self.book, alert.event_id) if alert.event_id else None
        for listener in tuple(self._listeners):
            # An alert on no event (a source down) concerns every sport.
            if alert.event_id is None or sees_place(listener.visibility, place):
                listener.deliver(alert)

    def _remember(self, alert_id: str) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_ids.discard(self._recent[0])
        self._recent.append(alert_id)
        self._recent_ids.add(alert_id)


def _row(alert: Alert) -> dict[str, Any]:
    body = alert.json()
    body["details"] = orjson.loads(orjson.dumps(alert.details, option=_OPTIONS))
    return body


def _alert(body: dict[str, Any]) -> Alert:
    return stored_alert({**body, "raised_at": datetime.fromisoformat(body["raised_at"])})


def stored_alert(body: dict[str, Any]) -> Alert:
    """An alert from its row (or its message, times read back)."""
    return Alert(
        body["id"],
        body["rule"],
        body["kind"],
        body["raised_at"],
        body["message"],
        body.get("event_id"),
        body.get("market_id"),
        body.get("outcome_id"),
        body.get("source"),
        body.get("details") or {},
    )
