"""How uvicorn runs the gateway: the same options for `oddsgate serve` and the tests' servers."""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from typing import Any

import httptools
import orjson
from uvicorn._types import ASGISendEvent
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.settings import Settings


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a limit on a request's headers and on the time they take.

    uvicorn has neither: llhttp buffers a header of any size (four 60 MB headers made the whole
    server slow) and a connection may trickle its headers forever (slowloris). Headers over
    `max_header_bytes` get 431 as they arrive; headers not complete `header_timeout` seconds after
    the connection opened (or after the first byte of the next request on a kept-alive connection)
    get 408. Both close the connection."""

    max_header_bytes = 16 * 1024
    header_timeout = 10.0
    discard_timeout = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._reading_headers = True
        self._started = False
        self._header_bytes = self._header_size = 0
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout, self._too_slow)
        self._discard_timer: asyncio.TimerHandle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._stop_discarding()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        # uvicorn's own, but for a refusal raised by a callback below: that one has answered.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Refused):
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._reading_headers and not self.transport.is_closing():
            # llhttp holds a header it has not finished reading: counted by the bytes received.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431, "HEADERS_TOO_LARGE", f"request headers are over {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = self._started = True
        self._header_bytes = self._header_size = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._header_bytes = 0
        self._stop_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.cycle.response_complete and self._discard_timer is None:
            # Answered before its body was read (a refusal): uvicorn drops the rest as it arrives,
            # for at most `discard_timeout`, so the client reads the answer rather than a reset.
            self._discard_timer = self.loop.call_later(self.discard_timeout, self.transport.close)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_discarding()
        super().on_message_complete()

    def _stop_discarding(self) -> None:
        if self._discard_timer is not None:
            self._discard_timer.cancel()
            self._discard_timer = None

    def _count(self, size: int) -> None:
        """Headers that arrived whole are measured as they are parsed; over the limit, parsing stops."""
        self._header_size += size
        if self._header_size > self.max_header_bytes:
            self._refuse(431, "HEADERS_TOO_LARGE", f"request headers are over {self.max_header_bytes} bytes")
            raise _Refused

    def _stop_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self._reading_headers or self.transport.is_closing():
            return
        if not self._started:
            # Opened and never used: nothing to answer.
            self.transport.close()
            return
        self._refuse(408, "REQUEST_TIMEOUT", f"request headers did not arrive within {self.header_timeout:g} s")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._stop_timer()
        body = orjson.dumps({"error": {"code": code, "message": message}})
        phrase = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, phrase, len(body), body)
        )
        self.transport.close()


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request already answered."""


def guarded_http(settings: Settings) -> type[GuardedHttpProtocol]:
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {
            "max_header_bytes": settings.max_header_bytes,
            "header_timeout": settings.header_timeout,
            "discard_timeout": settings.body_timeout,
        },
    )


class RedactTokens(logging.Filter):
    """Writes `?token=...` in logged URLs as `token=[redacted]`: embed tokens travel in query
    strings, and an access log is read by more people than the tokens are meant for."""

    _TOKEN = re.compile(r"([?&](?:access_)?token=)[^&\s\"]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "token=" in a.lower() for a in record.args):
            record.args = tuple(self._TOKEN.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = self._TOKEN.sub(r"\1[redacted]", record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with tokens redacted from every record its handlers write."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_tokens")
    return config


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, minus the handshake's request and response: uvicorn
    keeps both, headers and all (~3 KB), for as long as the socket is open, though nothing reads
    them once the handshake is done.

    A close is also bounded: uvicorn waits for the transport to drain before it writes the close
    frame, so a client that stopped reading (the very client closed with 4008) never got it and
    kept its connection. Here the close frame is queued behind what the client has not read, and
    the connection is cut if it is still open `close_timeout` seconds later."""

    close_deadline = 5.0
    _cut: asyncio.TimerHandle | None = None

    async def send(self, message: ASGISendEvent) -> None:
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and not self.close_sent
            and not self.transport.is_closing()
        ):
            self._cut = self.loop.call_later(self.close_deadline, self.transport.abort)
            # One small frame: it goes behind the backlog instead of waiting for it to drain.
            self.writable.set()
        await super().send(message)
        if self.handshake_complete and "request" in self.__dict__:
            del self.request
            del self.response

    def connection_lost(self, exc: Exception | None) -> None:
        if self._cut is not None:
            self._cut.cancel()
            self._cut = None
        super().connection_lost(exc)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "log_level": settings.log_level,
        "log_config": log_config(),
        "http": guarded_http(settings),
        "ws": type("LeanWebSocketProtocol", (LeanWebSocketProtocol,), {"close_deadline": settings.ws_close_timeout}),
        # Larger WebSocket messages are refused by the protocol layer (close 1009) before we parse them.
        "ws_max_size": settings.ws_max_message_bytes,
        # Deflate costs each socket its own compressor (~50 KB, against ~30 KB for the whole
        # connection without it) and each message a compression per socket, not once per message.
        "ws_per_message_deflate": settings.ws_compression,
        "lifespan": "on",
    }
