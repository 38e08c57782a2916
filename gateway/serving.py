"""How uvicorn runs the gateway: the same options for `oddsgate serve` and the tests' servers."""

from __future__ import annotations

from typing import Any

from gateway.settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "log_level": settings.log_level,
        "ws": "websockets-sansio",
        # Larger WebSocket messages are refused by the protocol layer (close 1009) before we parse them.
        "ws_max_size": settings.ws_max_message_bytes,
        "lifespan": "on",
    }
