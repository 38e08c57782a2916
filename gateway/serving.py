"""How uvicorn runs the gateway: the same options for `oddsgate serve` and the tests' servers."""

from __future__ import annotations

from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.settings import Settings


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, minus the handshake's request and response: uvicorn
    keeps both, headers and all (~3 KB), for as long as the socket is open, though nothing reads
    them once the handshake is done."""

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete and "request" in self.__dict__:
            del self.request
            del self.response


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "log_level": settings.log_level,
        "ws": LeanWebSocketProtocol,
        # Larger WebSocket messages are refused by the protocol layer (close 1009) before we parse them.
        "ws_max_size": settings.ws_max_message_bytes,
        # Deflate costs each socket its own compressor (~50 KB, against ~30 KB for the whole
        # connection without it) and each message a compression per socket, not once per message.
        "ws_per_message_deflate": settings.ws_compression,
        "lifespan": "on",
    }
