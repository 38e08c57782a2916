"""Where a subscriber starts and how it stays in step: one rule of snapshot, resume and reset for
every door (the partner `/ws`, GraphQL cohorts, the plain GraphQL path).

- Resume: for each event a subscriber names with the last position it received (`since`), the
  deltas after it while the hub's history still holds them all, or else a fresh snapshot marked
  `reset` (Centrifugo's offset and epoch, Betfair's `img`).
- Start: when asked, every other event the subscription selects opens with a snapshot.
- Reset: when deltas of an event are lost to this process (the hub's `reset`), a snapshot marked
  `reset`; while the book does not hold the event, its next delta is marked instead as not
  following on. A delta the reset snapshot already holds is not sent after it.

What `opening` returns is pushed with no await between registering the listener and pushing it,
so no delta can slip between a snapshot and what follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from feeds.audience import Audience
from feeds.book import OddsBook
from feeds.fanout import Hub, Published
from feeds.filters import DeltaFilter
from feeds.outbox import Outbox
from feeds.queries import only_markets
from schema.errors import InvalidRequest
from schema.model import Delta, Event, EventInfo

T = TypeVar("T")
# An epoch is a short token (`secrets.token_hex`); a longer one is not ours.
MAX_EPOCH = 64


@dataclass(slots=True, frozen=True)
class Position:
    """Where a client's copy of an event stands: the seq of the last delta it received and, when
    it has it, the epoch that seq counts in (without it a sequence that started over is missed)."""

    seq: int
    epoch: str | None = None


def positions(marks: Iterable[tuple[str, object, object]], usage: str) -> dict[str, Position]:
    """`since` from `(event_id, seq, epoch)` as a client sent them (epoch None when it sent none);
    raises InvalidRequest(usage) when any is not a position."""
    found: dict[str, Position] = {}
    for event_id, seq, epoch in marks:
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise InvalidRequest(usage)
        if epoch is not None and (not isinstance(epoch, str) or len(epoch) > MAX_EPOCH):
            raise InvalidRequest(usage)
        found[event_id] = Position(seq, epoch)
    return found


@dataclass(slots=True, frozen=True)
class Snapshot:
    """An event as the book holds it now, to start from; `event` is None when this process does not
    hold it. `reset`: it replaces what the subscriber held, which no longer follows on."""

    event_id: str
    event: Event | None
    reset: bool


def covers(selections: Iterable[DeltaFilter], info: EventInfo) -> bool:
    return any(selection.covers(info) for selection in selections)


def opening(
    hub: Hub, selections: Sequence[DeltaFilter], since: Mapping[str, Position], *, snapshots: bool
) -> list[Delta | Snapshot]:
    """What a new subscription to `selections` is sent before its first live delta: per event in
    `since`, what it missed or a reset snapshot; with `snapshots`, a snapshot of every other event
    it selects. Events in `since` that the subscription does not select are left out."""
    book = hub.book
    sent: list[Delta | Snapshot] = []
    resumed: set[str] = set()
    for event_id, mark in since.items():
        state = book.events.get(event_id)
        if state is not None and not covers(selections, state.info):
            continue
        resumed.add(event_id)
        missed = hub.since(event_id, mark.seq, mark.epoch)
        if missed is None:
            sent.append(Snapshot(event_id, book.event(event_id), reset=True))
        else:
            sent.extend(d for d in missed if any(s.matches(d, book) for s in selections))
    if snapshots:
        for event_id in _selected(book, selections):
            if event_id not in resumed:
                sent.append(Snapshot(event_id, book.event(event_id), reset=False))
    return sent


def _selected(book: OddsBook, selections: Sequence[DeltaFilter]) -> list[str]:
    """The events in the book the selections cover; by id when they all name theirs, rather than
    walking the whole book for every subscriber of one event."""
    named = [s.event_ids for s in selections]
    if all(ids is not None for ids in named):
        ids = sorted({event_id for group in named if group is not None for event_id in group})
        states = [state for state in (book.events.get(event_id) for event_id in ids) if state is not None]
    else:
        states = list(book.events.values())
    return [state.info.id for state in states if covers(selections, state.info)]


def shown(event: Event, selections: Iterable[DeltaFilter], audience: Audience) -> Event:
    """The event as a subscriber to `selections` is shown it: the markets of those that select it,
    at the audience's prices."""
    wanted: set[str] = set()
    for selection in selections:
        if selection.covers(event.info):
            if selection.market_types is None:
                return audience.markets(event)
            wanted.update(t.value for t in selection.market_types)
    return audience.markets(only_markets(event, wanted))


class Step(Enum):
    NEXT = "next"
    # It does not follow on from what was sent before: sent marked (conflated).
    MARKED = "marked"
    # A reset snapshot already sent holds it: not sent.
    HELD = "held"


class Resync:
    """One listener's record of the resets it was told of: which events' next delta is marked, and
    up to which seq a reset snapshot already stands for each event."""

    __slots__ = ("_floors", "_lost")

    def __init__(self) -> None:
        self._lost: set[str] = set()
        self._floors: dict[str, tuple[int, str]] = {}

    def reset(self, book: OddsBook, selections: Iterable[DeltaFilter], event_id: str) -> Snapshot | None:
        """The hub lost deltas of this event: the snapshot to send, or None when the book does not
        hold it (or the selections do not cover it) and its next delta is marked instead."""
        state = book.events.get(event_id)
        event = book.event(event_id) if state is not None and covers(selections, state.info) else None
        if event is None:
            self._lost.add(event_id)
            return None
        self._lost.discard(event_id)
        self._floors[event_id] = (event.seq, event.epoch)
        return Snapshot(event_id, event, reset=True)

    def step(self, delta: Delta) -> Step:
        """How a selected delta is sent (two empty-set checks while nothing was reset)."""
        if self._floors:
            floor = self._floors.get(delta.event_id)
            if floor is not None:
                if delta.epoch == floor[1] and delta.seq <= floor[0]:
                    return Step.HELD
                del self._floors[delta.event_id]
        if self._lost and delta.event_id in self._lost:
            self._lost.discard(delta.event_id)
            return Step.MARKED
        return Step.NEXT


class Subscriber(Generic[T]):
    """One subscription with its own outbox (the plain GraphQL path): the deltas its filter selects,
    rendered for it, and the snapshots the rule above calls for. `render(delta, marked)`;
    `render_snapshot` gets only snapshots of events the book holds: a GraphQL payload cannot say
    "unknown", so an event in `since` that this process no longer holds is not resumed."""

    def __init__(
        self,
        hub: Hub,
        selection: DeltaFilter,
        outbox: Outbox[T],
        render: Callable[[Delta, bool], T],
        render_snapshot: Callable[[Snapshot], T],
    ):
        self.hub = hub
        self.selections = (selection,)
        self.outbox = outbox
        self.render = render
        self.render_snapshot = render_snapshot
        self.resync = Resync()

    def start(self, since: Mapping[str, Position], *, snapshots: bool) -> None:
        self.hub.listen(self, *self.selections[0].index())
        for item in opening(self.hub, self.selections, since, snapshots=snapshots):
            if not isinstance(item, Snapshot):
                self.outbox.push(item, self.render(item, False))
            elif item.event is not None:
                self.outbox.push_control(self.render_snapshot(item))

    def stop(self) -> None:
        self.hub.unlisten(self)

    def deliver(self, item: Published) -> None:
        delta = item.delta
        if not self.selections[0].matches(delta, self.hub.book):
            return
        step = self.resync.step(delta)
        if step is not Step.HELD:
            self.outbox.push(delta, self.render(delta, step is Step.MARKED))

    def reset(self, event_id: str) -> None:
        snapshot = self.resync.reset(self.hub.book, self.selections, event_id)
        if snapshot is not None:
            self.outbox.push_control(self.render_snapshot(snapshot))
