"""What every resolver is handed: the live book, the hub and the caller's limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from auth.access import AccessControl
from auth.errors import Unauthenticated
from auth.principal import Principal
from betting.placement import BetService
from feeds.alerts import Alert
from feeds.book import OddsBook
from feeds.fanout import Hub
from feeds.normalize import Normalizer
from feeds.source_board import SourceBoard
from insights.service import InsightService
from resolvers.errors import graphql_errors
from schema.visibility import EVERYTHING, Visibility


class ControlApi(Protocol):
    """The control layer's service, as the resolvers use it."""

    async def create(self, principal: Principal, body: object) -> dict[str, Any]: ...

    async def rollback(self, principal: Principal, override_id: str, body: object) -> dict[str, Any]: ...


class AlertsApi(Protocol):
    def stream(self, visibility: Visibility, queue_size: int = 256) -> AsyncIterator[Alert]: ...


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
    control: ControlApi
    betting: BetService
    alerts: AlertsApi
    insights: InsightService
    sources: SourceBoard
    # Set once the caller is authenticated: over HTTP before the operation runs, over WebSocket
    # by connection_init. Subscriptions that share a document share it only with callers who
    # see the same data (`visibility`).
    principal: Principal | None = None
    visibility: Visibility = EVERYTHING
    connection_params: dict[str, Any] = field(default_factory=dict)
    # The bearer credential from the Authorization header or the connection_init payload.
    authorization: str | None = None

    def require(self, scope: str) -> Principal:
        """The caller, admitted to `scope`; raises the contract's refusals as GraphQL errors."""
        with graphql_errors():
            if self.principal is None:
                raise Unauthenticated("a bearer token is required")
            self.access.admit(self.principal, scope)
        return self.principal
