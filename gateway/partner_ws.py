"""The partner `/ws` channel protocol: subscribe to `odds.{sport}[.{market}]` and `event.{id}`,
snapshots on request, resume with `since`, optional per-subscription conflation, heartbeats.
The token, limits and close codes are the socket core's (`gateway.socket_core`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from auth.errors import Unauthenticated
from auth.principal import Principal
from feeds.alerts import Alert
from feeds.audience import Audience
from feeds.conflate import ConflationKey, conflation_key, merge_deltas
from feeds.fanout import Published
from feeds.filters import DeltaFilter
from feeds.outbox import Outbox, SlowConsumer
from feeds.resume import Position, Resync, Snapshot, Step, opening, positions, shown
from gateway.origins import socket_origin_allowed
from gateway.services import Services
from gateway.socket_core import CLOSE_FORBIDDEN, SocketSession
from resolvers.slow_clients import SlowClientGuard
from schema.errors import Forbidden, InvalidRequest, OddsgateError
from schema.model import Delta
from schema.render import event_json, ws_delta_json
from schema.visibility import Visibility
from usecases.alerting import AlertListener

MAX_CONFLATE_MS = 60_000
# The longest `event.{id}` channel, with room for `odds.{sport}.{market}` names.
MAX_CHANNEL_NAME = 256
ALERTS = "alerts"
# How long what was queued before a close the server decided (say, the error that caused it) may
# take to go out; a client that hung up is let go at once.
_CLOSE_DRAIN = 1.0
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


def parse_channel(services: Services, name: object, conflate_ms: int, visibility: Visibility) -> Channel:
    """Raises InvalidRequest for an unknown channel, Forbidden for one the token sees nothing of."""
    if not isinstance(name, str):
        raise InvalidRequest(f"channel names are strings, got {name!r}")
    if len(name) > MAX_CHANNEL_NAME:
        raise InvalidRequest(f"channel names are at most {MAX_CHANNEL_NAME} characters")
    kind, _, rest = name.partition(".")
    if kind == "event" and rest:
        state = services.book.events.get(rest)
        if state is not None and not visibility.sees_event(state.info.sport, state.info.league):
            raise Forbidden(f"this token does not cover {state.info.league or state.info.sport} ({rest})")
        return Channel(name, DeltaFilter(event_ids=frozenset({rest}), visibility=visibility), conflate_ms)
    if kind == "odds" and rest:
        sport, _, market = rest.partition(".")
        markets = [market] if market and market != "*" else None
        selection = DeltaFilter.of(services.normalizer, None, sport, markets, visibility)
        assert selection.sport is not None
        if not visibility.overlaps(selection.sport, selection.league or ""):
            raise Forbidden(f"this token does not cover {sport!r}")
        return Channel(name, selection, conflate_ms)
    raise InvalidRequest(f"unknown channel {name!r}: use odds.{{sport}}, odds.{{sport}}.{{market}} or event.{{id}}")


class PartnerConnection:
    """One `/ws` client: its channels, its outbox, and the hub listener that feeds them."""

    def __init__(self, socket: WebSocket, services: Services):
        self.socket = socket
        self.services = services
        settings = services.settings
        self.session = SocketSession(services.access, settings, socket.headers.get("origin"), self._end_with)
        self.outbox: Outbox[bytes] = Outbox(settings.client_queue, settings.slow_client_seconds, ws_conflated_frame)
        self.channels: dict[str, Channel] = {}
        self.audience = Audience(services.book, self.session.visibility)
        self.resync = Resync()
        self._alerts: AlertListener | None = None
        self._closing: str | None = None
        self._close_code = 1000
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
        step = self.resync.step(item.delta)
        if step is Step.HELD:
            return
        marked = step is Step.MARKED
        delta = self.audience.delta(item.delta)
        if conflate == 0:
            # Whatever of this event is held for a window goes first: seq never runs backwards.
            if self._window:
                self._release(lambda key: key[0] == delta.event_id)
            if marked:
                self.outbox.push(delta, ws_conflated_frame(delta))
                return
            frame = ws_published_frame(item) if delta is item.delta else ws_frame(delta)
            self.outbox.push(delta, frame)
            return
        key = conflation_key(delta)
        older = self._window.pop(key, None)
        if older is None:
            self._window[key] = (delta, marked)
        else:
            self._window[key] = (merge_deltas(older[0], delta), True)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(conflate / 1000, self._flush_window)

    def reset(self, event_id: str) -> None:
        for key in [k for k in self._window if k[0] == event_id]:
            del self._window[key]
        snapshot = self.resync.reset(self.services.book, self._selections(), event_id)
        if snapshot is not None:
            self._send_snapshot(snapshot)

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

    def _error(self, error: OddsgateError) -> None:
        self.send({"event": "error", "error": {"code": error.code, "message": error.message, **error.details}})

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued: the writer stops at the empty frame, then the reader."""
        if self._closing is None:
            self._closing = reason
            self._close_code = code
            self.outbox.push_control(b"")

    def _end_with(self, code: int, error: OddsgateError) -> None:
        self._error(error)
        self.close(code, error.message)

    def _beat(self) -> None:
        self.send({"event": "heartbeat", "ts": datetime.now(UTC)})

    async def authenticate(self, token: object) -> None:
        """Raises the contract's refusals; on success the connection may subscribe until the token expires."""
        self._authenticated(await self.session.admit(token))

    async def _authenticate_header(self, header: str) -> None:
        self._authenticated(await self.session.admit_header(header))

    def _authenticated(self, principal: Principal) -> None:
        self.audience = Audience(self.services.book, self.session.visibility)
        self.send({"event": "authenticated", "sub": principal.sub, "expires_at": principal.expires_at})

    async def handle(self, message: dict[str, Any]) -> None:
        action = message.get("action")
        if action == "auth":
            if self.session.admitted:
                raise InvalidRequest("this connection is already authenticated")
            await self.authenticate(message.get("token"))
        elif not self.session.admitted:
            raise Unauthenticated('the first message must be {"action": "auth", "token": "<JWT>"}')
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
        since = _since(message.get("since"))
        # Every channel is checked before any is taken: a bad one changes nothing.
        wants_alerts = ALERTS in names
        principal = self.session.principal
        if wants_alerts and principal is not None:
            self.services.access.admit(principal, "odds:control")
        visibility = self.session.visibility
        added = [parse_channel(self.services, n, conflate_ms, visibility) for n in names if n != ALERTS]
        self.session.count_subscriptions(len(self.channels.keys() | set(names)), "channels")
        for channel in added:
            self.channels[channel.name] = channel
        self._register()
        if wants_alerts and self._alerts is None:
            self._alerts = self.services.alerts.add_listener(visibility, self._alert)
        self.send({"event": "subscribed", "channels": [c.name for c in added] + ([ALERTS] if wants_alerts else [])})
        # No await from registration to here: no delta can slip between a snapshot and what follows it.
        selections = [c.selection for c in added]
        for item in opening(self.services.hub, selections, since, snapshots=bool(message.get("include_history"))):
            if isinstance(item, Snapshot):
                self._send_snapshot(item)
            else:
                self.outbox.push(item, ws_frame(self.audience.delta(item)))

    def _unsubscribe(self, message: dict[str, Any]) -> None:
        names = _names(message)
        removed = [n for n in names if self.channels.pop(n, None) is not None]
        if ALERTS in names and self._alerts is not None:
            self._stop_alerts()
            removed.append(ALERTS)
        self._register()
        self.send({"event": "unsubscribed", "channels": removed})

    def _alert(self, alert: Alert) -> None:
        self.outbox.push_control(_dumps({**alert.json(), "event": "alert"}))

    def _stop_alerts(self) -> None:
        if self._alerts is not None:
            self.services.alerts.remove_listener(self._alerts)
            self._alerts = None

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

    def _selections(self) -> list[DeltaFilter]:
        return [channel.selection for channel in self.channels.values()]

    def _send_snapshot(self, snapshot: Snapshot) -> None:
        """The event with only the markets this client's channels cover (all of them, not only
        the ones just subscribed), as its audience sees them."""
        event = snapshot.event
        visible = shown(event, self._selections(), self.audience) if event is not None else None
        self.send(
            {
                "event": "snapshot",
                "event_id": snapshot.event_id,
                "seq": event.seq if event is not None else 0,
                "epoch": event.epoch if event is not None else None,
                "reset": snapshot.reset,
                "data": event_json(visible) if visible is not None else None,
            }
        )

    # -- the connection --------------------------------------------------------------------------

    async def run(self, header: str | None = None) -> None:
        """Until the client hangs up or the connection is closed; `header`: an Authorization
        header, taken as the token before any message."""
        self.session.expect_token()
        self.session.keep_alive(self._beat)
        writer = asyncio.create_task(self._write(), name="ws-writer")
        reader = asyncio.create_task(self._read(header), name="ws-reader")
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
            if self._closing is not None and not writer.done():
                await asyncio.wait({writer}, timeout=_CLOSE_DRAIN)
        finally:
            self.services.hub.unlisten(self)
            self._stop_alerts()
            self.session.end()
            if self._flush is not None:
                self._flush.cancel()
            # A client that hung up is read from and written to no more: both stop now.
            reader.cancel()
            writer.cancel()
            await asyncio.wait({reader, writer})
            for task in (reader, writer):
                if not task.cancelled() and (failure := task.exception()) is not None:
                    log.error("a /ws connection task failed", exc_info=failure)
            if self._closing is not None:
                with contextlib.suppress(Exception):
                    await self.socket.close(code=self._close_code, reason=self._closing[:120])
            if self._guard is not None:
                await self._guard.wait_closed()

    async def _read(self, header: str | None) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            if header is not None and not await self._answered(self._authenticate_header(header)):
                return
            while True:
                received = await self.socket.receive()
                if received["type"] == "websocket.disconnect":
                    return
                if not await self._answered(self._receive(received)):
                    return

    async def _receive(self, received: Message) -> None:
        self.session.count_message()
        if self.session.admitted:
            # Every message is charged to the token; the one that authenticates is charged by it.
            await self.session.charge()
        try:
            message = orjson.loads(received.get("text") or received.get("bytes") or b"")
        except orjson.JSONDecodeError:
            raise InvalidRequest("message is not valid JSON") from None
        if not isinstance(message, dict):
            raise InvalidRequest("messages are JSON objects with an 'action'")
        await self.handle(message)

    async def _answered(self, work: Awaitable[None]) -> bool:
        """Runs one step of the protocol; a refusal is answered with an error and, where the core
        says so, closes the connection (then False)."""
        try:
            await work
        except OddsgateError as exc:
            self._error(exc)
            code = self.session.close_code(exc)
            if code is not None:
                self.close(code, exc.message)
                return False
        except Exception:
            # A bug answers this one message with an error; the connection goes on.
            log.exception("a /ws message failed")
            self._error(OddsgateError("the message could not be handled"))
        return True

    async def _write(self) -> None:
        self._guard = SlowClientGuard(self.outbox, self.socket)
        with contextlib.suppress(SlowConsumer, WebSocketDisconnect, RuntimeError):
            while await self._send_next():
                pass

    async def _send_next(self) -> bool:
        # Its own frame, so the frame sent is not kept alive while the writer waits for the next.
        frame = await self.outbox.get()
        if not frame:
            return False
        await self.socket.send_text(frame.decode())
        return True


def _since(value: object) -> dict[str, Position]:
    """`since`: event id -> the last seq received, or -> {"seq", "epoch"} as the deltas carried them
    (with the epoch, a sequence that started over since is told apart from one that went on)."""
    if value is None:
        return {}
    usage = '\'since\' maps event ids to the last seq received, or to {"seq": 41, "epoch": "..."}'
    if not isinstance(value, dict):
        raise InvalidRequest(usage)
    marks = (
        (event_id, mark.get("seq"), mark.get("epoch")) if isinstance(mark, dict) else (event_id, mark, None)
        for event_id, mark in value.items()
    )
    return positions(marks, usage)


def _names(message: dict[str, Any]) -> list[str]:
    names = message.get("channels")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidRequest("'channels' must be a non-empty list of channel names")
    return names


async def partner_endpoint(socket: WebSocket) -> None:
    services: Services = socket.app.state.services
    if not socket_origin_allowed(socket, services.settings.allowed_origins):
        # Closing before accepting answers the handshake with 403.
        await socket.close(code=CLOSE_FORBIDDEN)
        return
    await socket.accept()
    connection = PartnerConnection(socket, services)
    open_sockets = services.metrics.connections.labels("ws")
    open_sockets.inc()
    try:
        await connection.run(socket.headers.get("authorization"))
    finally:
        open_sockets.dec()
