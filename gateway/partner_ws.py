"""The partner `/ws` channel protocol: subscribe to `odds.{sport}[.{market}]` and `event.{id}`,
snapshots on request, resume with `since`, optional per-subscription conflation, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from feeds.conflate import ConflationKey, conflation_key, merge_deltas
from feeds.fanout import Published
from feeds.filters import DeltaFilter
from feeds.outbox import Outbox, SlowConsumer
from feeds.queries import only_markets
from gateway.services import Services
from resolvers.slow_clients import SlowClientGuard
from schema.errors import InvalidRequest, OddsgateError
from schema.model import Delta, Event
from schema.render import event_json, ws_delta_json

MAX_CONFLATE_MS = 60_000
MAX_CHANNELS = 256
log = logging.getLogger(__name__)
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=_OPTIONS)


def ws_frame(delta: Delta) -> bytes:
    return _dumps(ws_delta_json(delta))


def ws_conflated_frame(delta: Delta) -> bytes:
    return _dumps(ws_delta_json(delta, conflated=True))


def ws_published_frame(item: Published) -> bytes:
    return item.frame(ws_frame)


@dataclass(slots=True, frozen=True)
class Channel:
    name: str
    selection: DeltaFilter
    conflate_ms: int


def parse_channel(services: Services, name: object, conflate_ms: int) -> Channel:
    if not isinstance(name, str):
        raise InvalidRequest(f"channel names are strings, got {name!r}")
    kind, _, rest = name.partition(".")
    if kind == "event" and rest:
        return Channel(name, DeltaFilter(event_ids=frozenset({rest})), conflate_ms)
    if kind == "odds" and rest:
        sport, _, market = rest.partition(".")
        markets = [market] if market and market != "*" else None
        return Channel(name, DeltaFilter.of(services.normalizer, None, sport, markets), conflate_ms)
    raise InvalidRequest(f"unknown channel {name!r}: use odds.{{sport}}, odds.{{sport}}.{{market}} or event.{{id}}")


class PartnerConnection:
    """One `/ws` client: its channels, its outbox, and the hub listener that feeds them."""

    def __init__(self, socket: WebSocket, services: Services):
        self.socket = socket
        self.services = services
        settings = services.settings
        self.outbox: Outbox[bytes] = Outbox(settings.client_queue, settings.slow_client_seconds, ws_conflated_frame)
        self.channels: dict[str, Channel] = {}
        # conflate_ms: per market, the latest delta and whether it stands for more than one.
        self._window: dict[ConflationKey, tuple[Delta, bool]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._guard: SlowClientGuard | None = None

    # -- hub listener ----------------------------------------------------------------------------

    def deliver(self, item: Published) -> None:
        conflate: int | None = None
        for channel in self.channels.values():
            if channel.selection.matches(item.delta, self.services.book):
                conflate = channel.conflate_ms if conflate is None else min(conflate, channel.conflate_ms)
                if conflate == 0:
                    break
        if conflate is None:
            return
        if conflate == 0:
            # Whatever of this event is held for a window goes first: seq never runs backwards.
            if self._window:
                self._release(lambda key: key[0] == item.delta.event_id)
            self.outbox.push(item.delta, ws_published_frame(item))
            return
        key = conflation_key(item.delta)
        older = self._window.pop(key, None)
        self._window[key] = (item.delta, False) if older is None else (merge_deltas(older[0], item.delta), True)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(conflate / 1000, self._flush_window)

    def reset(self, event_id: str) -> None:
        for key in [k for k in self._window if k[0] == event_id]:
            del self._window[key]
        if self._events_of(list(self.channels.values()), only=event_id):
            self._send_snapshot(event_id, reset=True)

    def _flush_window(self) -> None:
        self._flush = None
        self._release(lambda _key: True)

    def _release(self, which: Callable[[ConflationKey], bool]) -> None:
        held = [self._window.pop(key) for key in [k for k in self._window if which(k)]]
        for delta, merged in sorted(held, key=lambda entry: entry[0].seq):
            self.outbox.push(delta, ws_conflated_frame(delta) if merged else ws_frame(delta))

    # -- protocol --------------------------------------------------------------------------------

    def send(self, body: dict[str, Any]) -> None:
        self.outbox.push_control(_dumps(body))

    def handle(self, message: dict[str, Any]) -> None:
        action = message.get("action")
        if action == "auth":
            self.send({"event": "authenticated"})
        elif action == "subscribe":
            self._subscribe(message)
        elif action == "unsubscribe":
            self._unsubscribe(message)
        elif action == "ping":
            self.send({"event": "pong", "ts": datetime.now(UTC)})
        else:
            raise InvalidRequest(f"unknown action {action!r}: use auth, subscribe, unsubscribe or ping")

    def _subscribe(self, message: dict[str, Any]) -> None:
        names = _names(message)
        conflate_ms = message.get("conflate_ms", 0)
        if not isinstance(conflate_ms, int) or isinstance(conflate_ms, bool) or not 0 <= conflate_ms <= MAX_CONFLATE_MS:
            raise InvalidRequest(f"'conflate_ms' must be an integer from 0 to {MAX_CONFLATE_MS}")
        since = message.get("since") or {}
        if not isinstance(since, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in since.items()
        ):
            raise InvalidRequest("'since' maps event ids to the last seq received, e.g. {\"nfl-game\": 41}")
        # Every channel is checked before any is taken: a bad one changes nothing.
        added = [parse_channel(self.services, name, conflate_ms) for name in names]
        if len(self.channels.keys() | set(names)) > MAX_CHANNELS:
            raise InvalidRequest(f"at most {MAX_CHANNELS} channels per connection")
        for channel in added:
            self.channels[channel.name] = channel
        self._register()
        self.send({"event": "subscribed", "channels": [c.name for c in added]})
        # No await from registration to here: no delta can slip between a snapshot and what follows it.
        resumed = set()
        for event_id, seq in since.items():
            if event_id in self.services.book.events and not self._events_of(added, only=event_id):
                continue  # not an event of these channels: nothing of it is sent
            resumed.add(event_id)
            missed = self.services.hub.since(event_id, seq)
            if missed is None:
                self._send_snapshot(event_id, reset=True)
                continue
            for delta in missed:
                if self._selects(delta, added):
                    self.outbox.push(delta, ws_frame(delta))
        if message.get("include_history"):
            for event_id in self._events_of(added):
                if event_id not in resumed:
                    self._send_snapshot(event_id, reset=False)

    def _unsubscribe(self, message: dict[str, Any]) -> None:
        names = _names(message)
        removed = [n for n in names if self.channels.pop(n, None) is not None]
        self._register()
        self.send({"event": "unsubscribed", "channels": removed})

    def _register(self) -> None:
        hub = self.services.hub
        hub.unlisten(self)
        if not self.channels:
            return
        events: set[str] = set()
        sports: set[str] = set()
        for channel in self.channels.values():
            channel_events, channel_sports = channel.selection.index()
            events.update(channel_events)
            sports.update(channel_sports)
        hub.listen(self, events, sports)

    def _selects(self, delta: Delta, channels: Iterable[Channel]) -> bool:
        return any(c.selection.matches(delta, self.services.book) for c in channels)

    def _events_of(self, channels: list[Channel], only: str | None = None) -> list[str]:
        book = self.services.book
        found: list[str] = []
        states = book.events.values() if only is None else [s for s in [book.events.get(only)] if s is not None]
        for state in states:
            info = state.info
            for channel in channels:
                s = channel.selection
                if s.event_ids is not None and info.id not in s.event_ids:
                    continue
                if s.sport is not None and info.sport != s.sport:
                    continue
                if s.league and info.league != s.league:
                    continue
                found.append(info.id)
                break
        return found

    def _send_snapshot(self, event_id: str, *, reset: bool) -> None:
        event = self.services.book.event(event_id)
        visible = self._visible(event) if event is not None else None
        self.send(
            {
                "event": "snapshot",
                "event_id": event_id,
                "seq": event.seq if event is not None else 0,
                "reset": reset,
                "data": event_json(visible) if visible is not None else None,
            }
        )

    def _visible(self, event: Event) -> Event | None:
        """The event as this client's channels show it: only their markets, or None."""
        wanted: set[str] = set()
        for channel in self.channels.values():
            if not self._events_of([channel], only=event.info.id):
                continue
            if channel.selection.market_types is None:
                return event
            wanted.update(t.value for t in channel.selection.market_types)
        return only_markets(event, wanted) if wanted else None

    async def run(self) -> None:
        writer = asyncio.create_task(self._write(), name="ws-writer")
        reader = asyncio.create_task(self._read(), name="ws-reader")
        heartbeat = asyncio.create_task(self._heartbeat(), name="ws-heartbeat")
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.services.hub.unlisten(self)
            if self._flush is not None:
                self._flush.cancel()
            for task in (heartbeat, reader, writer):
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    pass
                except Exception:
                    log.exception("a /ws connection task failed")
            if self._guard is not None:
                await self._guard.wait_closed()

    async def _read(self) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                received = await self.socket.receive()
                if received["type"] == "websocket.disconnect":
                    return
                try:
                    message = orjson.loads(received.get("text") or received.get("bytes") or b"")
                    if not isinstance(message, dict):
                        raise InvalidRequest("messages are JSON objects with an 'action'")
                    self.handle(message)
                except orjson.JSONDecodeError:
                    self._error("INVALID_REQUEST", "message is not valid JSON")
                except OddsgateError as exc:
                    self._error(exc.code, exc.message)
                except Exception:
                    # A bug answers this one message with an error; the connection goes on.
                    log.exception("a /ws message failed")
                    self._error("INTERNAL", "the message could not be handled")

    def _error(self, code: str, message: str) -> None:
        self.send({"event": "error", "error": {"code": code, "message": message}})

    async def _write(self) -> None:
        self._guard = SlowClientGuard(self.outbox, self.socket)
        with contextlib.suppress(SlowConsumer, WebSocketDisconnect, RuntimeError):
            while True:
                frame = await self.outbox.get()
                await self.socket.send_text(frame.decode())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.services.settings.ws_heartbeat)
            self.send({"event": "heartbeat", "ts": datetime.now(UTC)})


def _names(message: dict[str, Any]) -> list[str]:
    names = message.get("channels")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidRequest("'channels' must be a non-empty list of channel names")
    return names


async def partner_endpoint(socket: WebSocket) -> None:
    services: Services = socket.app.state.services
    await socket.accept()
    await PartnerConnection(socket, services).run()
