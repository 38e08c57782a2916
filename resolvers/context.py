"""What every resolver is handed: the live book, the hub and the caller's limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from auth.access import AccessControl
from auth.errors import Unauthenticated
from auth.principal import Principal
from feeds.book import OddsBook
from feeds.fanout import Hub
from feeds.normalize import Normalizer
from schema.visibility import EVERYTHING, Visibility
from usecases.betting import Betting
from usecases.insights import InsightReading
from usecases.odds import OddsReading
from usecases.operators import OperatorViews


@dataclass
class GraphQLContext:
    request: Request | WebSocket
    response: Response | WebSocket | None
    book: OddsBook
    normalizer: Normalizer
    hub: Hub
    client_queue: int
    slow_client_seconds: float
    access: AccessControl
    betting: Betting
    odds: OddsReading
    operators: OperatorViews
    insight_reading: InsightReading
    # Set once the caller is authenticated: over HTTP before the operation runs, over WebSocket
    # by connection_init. Subscriptions that share a document share it only with callers who
    # see the same data (`visibility`).
    principal: Principal | None = None
    visibility: Visibility = EVERYTHING
    connection_params: dict[str, Any] = field(default_factory=dict)
    # The bearer credential from the Authorization header or the connection_init payload.
    authorization: str | None = None

    def caller(self) -> Principal:
        """The authenticated caller (admission to a scope is the use-case's)."""
        if self.principal is None:
            raise Unauthenticated("a bearer token is required")
        return self.principal
