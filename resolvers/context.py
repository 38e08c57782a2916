"""What every resolver is handed: the live book, the hub and the caller's limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from feeds.book import OddsBook
from feeds.fanout import Hub
from feeds.normalize import Normalizer


@dataclass
class GraphQLContext:
    request: Request | WebSocket
    response: Response | WebSocket | None
    book: OddsBook
    normalizer: Normalizer
    hub: Hub
    client_queue: int
    slow_client_seconds: float
    # Sports the caller may see ("*" for all); subscriptions that share a document share it only
    # with callers who see the same data.
    sports: frozenset[str] = frozenset({"*"})
    connection_params: dict[str, Any] = field(default_factory=dict)
    # The bearer credential from the Authorization header or the connection_init payload.
    authorization: str | None = None
