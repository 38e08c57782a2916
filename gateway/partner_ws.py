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

from auth.errors import AgeVerificationRequired, RateLimited, RegionBlocked, Unauthenticated
from auth.principal import Principal
from auth.ratelimit import parse_rate
from auth.tokens import bearer
from feeds.alerts import Alert
from feeds.audience import Audience
from feeds.conflate import ConflationKey, conflation_key, merge_deltas
from feeds.fanout import Published
from feeds.filters import DeltaFilter
from feeds.outbox import Outbox, SlowConsumer
from feeds.queries import only_markets
from gateway.alerting import AlertListener
from gateway.origins import socket_origin_allowed
from gateway.services import Services
from gateway.ws_rules import CLOSE_FORBIDDEN, CLOSE_INIT_TIMEOUT, CLOSE_RATE, CLOSE_UNAUTHENTICATED, ConnectionRate
from resolvers.slow_clients import SlowClientGuard
from schema.errors import Forbidden, InvalidRequest, OddsgateError
from schema.model import Delta, Event
from schema.render import event_json, ws_delta_json
from schema.visibility import EVERYTHING, Visibility

MAX_CONFLATE_MS = 60_000
# The longest `event.{id}` channel, with room for `odds.{sport}.{market}` names.
MAX_CHANNEL_NAME = 256
ALERTS = "alerts"
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


class TooManyChannels(InvalidRequest):
    """Closes the connection: a client that asks for more is misconfigured or abusive."""


class PartnerConnection:
    """One `/ws` client: its channels, its outbox, and the hub listener that feeds them."""

    def __init__(self, socket: WebSocket, services: Services):
        self.socket = socket
        self.services = services
        settings = services.settings
        self.outbox: Outbox[bytes] = Outbox(settings.client_queue, settings.slow_client_seconds, ws_conflated_frame)
        self.channels: dict[str, Channel] = {}
        self.principal: Principal | None = None
        self.visibility: Visibility = EVERYTHING
        self.audience = Audience(services.book, EVERYTHING)
        self._alerts: AlertListener | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._unwatch: Callable[[], None] | None = None
        self._closing: str | None = None
        self._close_code = 1000
        self._message_rate = parse_rate(settings.ws_message_rate)
        # conflate_ms: per market, the latest delta and whether it stands for more than one.
        self._window: dict[ConflationKey, tuple[Delta, bool]] = {}
        self._resets: set[str] = set()
        self._flush: asyncio.TimerHandle | None = None
        self._guard: SlowClientGuard | None = None
        # Timers rather than tasks: an idle connection costs two tasks (reader, writer), no more.
        self._init_timer: asyncio.TimerHandle | None = None
        self._heartbeat: asyncio.TimerHandle | None = None

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
        delta = self.audience.delta(item.delta)
        # After a reset that could send no snapshot, the next delta says it does not follow on.
        marked = bool(self._resets) and delta.event_id in self._resets
        if marked:
            self._resets.discard(delta.event_id)
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
        if self._events_of(list(self.channels.values()), only=event_id):
            self._send_snapshot(event_id, reset=True)
        else:
            # This process does not hold the event yet (its replica starts over): no snapshot to
            # send, so the next delta of it is marked.
            self._resets.add(event_id)

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

    def authenticate(self, token: object) -> None:
        """Raises the contract's refusals; on success the connection may subscribe until the token expires."""
        access = self.services.access
        if not isinstance(token, str) or not token:
            raise Unauthenticated("'token' must be the bearer token (a JWT)")
        principal = access.authenticate(token, self.socket.headers.get("origin"))
        access.admit(principal, "odds:read")
        self.principal, self.visibility = principal, access.visibility(principal)
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        self.audience = Audience(self.services.book, self.visibility)
        delay = (principal.expires_at - datetime.now(UTC)).total_seconds()
        self._expiry = asyncio.get_running_loop().call_later(max(0.0, delay), self._expired)
        self._unwatch = access.watch(principal, self._revoked)
        self.send({"event": "authenticated", "sub": principal.sub, "expires_at": principal.expires_at})

    def _expired(self) -> None:
        self.close(CLOSE_UNAUTHENTICATED, "the token expired")

    def _revoked(self) -> None:
        self._error("UNAUTHENTICATED", "this token has been revoked")
        self.close(CLOSE_UNAUTHENTICATED, "the token was revoked")

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued: the writer stops at the empty frame, then the reader."""
        if self._closing is None:
            self._closing = reason
            self._close_code = code
            self.outbox.push_control(b"")

    def _init_expired(self) -> None:
        self._init_timer = None
        if self.principal is None:
            self.close(CLOSE_INIT_TIMEOUT, "no auth message in time")

    def _beat(self) -> None:
        self.send({"event": "heartbeat", "ts": datetime.now(UTC)})
        self._heartbeat = asyncio.get_running_loop().call_later(self.services.settings.ws_heartbeat, self._beat)

    def handle(self, message: dict[str, Any]) -> None:
        action = message.get("action")
        if action == "auth":
            if self.principal is not None:
                raise InvalidRequest("this connection is already authenticated")
            self.authenticate(message.get("token"))
        elif self.principal is None:
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
        if wants_alerts and self.principal is not None:
            self.services.access.admit(self.principal, "odds:control")
        added = [parse_channel(self.services, n, conflate_ms, self.visibility) for n in names if n != ALERTS]
        limit = self.services.settings.ws_max_subscriptions
        if len(self.channels.keys() | set(names)) > limit:
            raise TooManyChannels(f"at most {limit} channels per connection")
        for channel in added:
            self.channels[channel.name] = channel
        self._register()
        if wants_alerts and self._alerts is None:
            self._alerts = self.services.alerts.add_listener(self.visibility, self._alert)
        self.send({"event": "subscribed", "channels": [c.name for c in added] + ([ALERTS] if wants_alerts else [])})
        # No await from registration to here: no delta can slip between a snapshot and what follows it.
        resumed = set()
        for event_id, (seq, epoch) in since.items():
            if event_id in self.services.book.events and not self._events_of(added, only=event_id):
                continue  # not an event of these channels: nothing of it is sent
            resumed.add(event_id)
            missed = self.services.hub.since(event_id, seq, epoch)
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

    def _selects(self, delta: Delta, channels: Iterable[Channel]) -> bool:
        return any(c.selection.matches(delta, self.services.book) for c in channels)

    def _events_of(self, channels: list[Channel], only: str | None = None) -> list[str]:
        book = self.services.book
        states = book.events.values() if only is None else [s for s in [book.events.get(only)] if s is not None]
        return [state.info.id for state in states if any(c.selection.covers(state.info) for c in channels)]

    def _send_snapshot(self, event_id: str, *, reset: bool) -> None:
        event = self.services.book.event(event_id)
        visible = self._visible(event) if event is not None else None
        self.send(
            {
                "event": "snapshot",
                "event_id": event_id,
                "seq": event.seq if event is not None else 0,
                "epoch": event.epoch if event is not None else None,
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
                return self.audience.markets(event)
            wanted.update(t.value for t in channel.selection.market_types)
        return self.audience.markets(only_markets(event, wanted)) if wanted else None

    async def run(self) -> None:
        settings = self.services.settings
        loop = asyncio.get_running_loop()
        if self.principal is None:
            self._init_timer = loop.call_later(settings.ws_init_timeout, self._init_expired)
        self._heartbeat = loop.call_later(settings.ws_heartbeat, self._beat)
        writer = asyncio.create_task(self._write(), name="ws-writer")
        reader = asyncio.create_task(self._read(), name="ws-reader")
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.services.hub.unlisten(self)
            self._stop_alerts()
            if self._unwatch is not None:
                self._unwatch()
            for handle in (self._flush, self._expiry, self._init_timer, self._heartbeat):
                if handle is not None:
                    handle.cancel()
            reader.cancel()
            if self._closing is not None and not writer.done():
                # What was queued before the close (say, the error that caused it) goes out first.
                self.outbox.push_control(b"")
            for task in (reader, writer):
                try:
                    async with asyncio.timeout(1):
                        await task
                except (asyncio.CancelledError, TimeoutError, WebSocketDisconnect, RuntimeError):
                    pass
                except Exception:
                    log.exception("a /ws connection task failed")
            if self._closing is not None:
                with contextlib.suppress(Exception):
                    await self.socket.close(code=self._close_code, reason=self._closing[:120])
            if self._guard is not None:
                await self._guard.wait_closed()

    async def _read(self) -> None:
        access = self.services.access
        per_connection = ConnectionRate(self._message_rate)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                received = await self.socket.receive()
                if received["type"] == "websocket.disconnect":
                    return
                if not per_connection.allow():
                    self.close(CLOSE_RATE, f"more than {self.services.settings.ws_message_rate} messages")
                    return
                try:
                    # Every message is charged to the token, the one that authenticates included.
                    charged = self.principal
                    if charged is not None:
                        await access.charge(charged)
                    message = orjson.loads(received.get("text") or received.get("bytes") or b"")
                    if not isinstance(message, dict):
                        raise InvalidRequest("messages are JSON objects with an 'action'")
                    self.handle(message)
                    if charged is None and self.principal is not None:
                        await access.charge(self.principal)
                except orjson.JSONDecodeError:
                    self._error("INVALID_REQUEST", "message is not valid JSON")
                except Unauthenticated as exc:
                    self._error(exc.code, exc.message)
                    self.close(CLOSE_UNAUTHENTICATED, exc.message)
                    return
                except (RegionBlocked, AgeVerificationRequired) as exc:
                    if self.principal is None:
                        self._error(exc.code, exc.message)
                        self.close(CLOSE_FORBIDDEN, exc.message)
                        return
                    self._error(exc.code, exc.message)
                except TooManyChannels as exc:
                    self._error(exc.code, exc.message)
                    self.close(CLOSE_RATE, exc.message)
                    return
                except RateLimited as exc:
                    self.send({"event": "error", "error": {"code": exc.code, "message": exc.message, **exc.details}})
                except OddsgateError as exc:
                    if self.principal is None and exc.code == "FORBIDDEN":
                        self._error(exc.code, exc.message)
                        self.close(CLOSE_FORBIDDEN, exc.message)
                        return
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
            while await self._send_next():
                pass

    async def _send_next(self) -> bool:
        # Its own frame, so the frame sent is not kept alive while the writer waits for the next.
        frame = await self.outbox.get()
        if not frame:
            return False
        await self.socket.send_text(frame.decode())
        return True


def _since(value: object) -> dict[str, tuple[int, str | None]]:
    """`since`: event id -> the last seq received, or -> {"seq", "epoch"} as the deltas carried them
    (with the epoch, a sequence that started over since is told apart from one that went on)."""
    if value is None:
        return {}
    usage = '\'since\' maps event ids to the last seq received, or to {"seq": 41, "epoch": "..."}'
    if not isinstance(value, dict):
        raise InvalidRequest(usage)
    found: dict[str, tuple[int, str | None]] = {}
    for event_id, mark in value.items():
        seq, epoch = (mark.get("seq"), mark.get("epoch")) if isinstance(mark, dict) else (mark, None)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise InvalidRequest(usage)
        if epoch is not None and (not isinstance(epoch, str) or len(epoch) > MAX_EPOCH):
            raise InvalidRequest(usage)
        found[event_id] = (seq, epoch)
    return found


MAX_EPOCH = 64


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
    header = socket.headers.get("authorization")
    if header:
        try:
            connection.authenticate(bearer(header))
        except OddsgateError as exc:
            await socket.send_text(
                _dumps({"event": "error", "error": {"code": exc.code, "message": exc.message}}).decode()
            )
            await socket.close(code=CLOSE_UNAUTHENTICATED if exc.code == "UNAUTHENTICATED" else CLOSE_FORBIDDEN)
            return
    open_sockets = services.metrics.connections.labels("ws")
    open_sockets.inc()
    try:
        await connection.run()
    finally:
        open_sockets.dec()
