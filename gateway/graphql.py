"""`/graphql`: strawberry over Starlette, graphql-transport-ws only, with subscription cohorts."""

from __future__ import annotations

import logging
from datetime import timedelta

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types.unset import UNSET, UnsetType

from feeds.outbox import SlowConsumer
from gateway.graphql_cohorts import Cohort, Cohorts
from gateway.services import Services
from gateway.settings import Settings
from resolvers import build_schema, limit_rules
from resolvers.context import GraphQLContext
from resolvers.slow_clients import SlowClientGuard

log = logging.getLogger(__name__)


class CohortHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws, where an `oddsUpdated` subscription joins its cohort."""

    async def run_operation(self, operation: Operation[GraphQLContext, None]) -> None:
        view = self.view
        assert isinstance(view, OddsgateGraphQL)
        cohorts = view.cohorts(self.context)
        plan = None
        if cohorts is not None:
            try:
                plan = cohorts.plan(operation.query, operation.variables, operation.operation_name, self.context.sports)
            except Exception:
                # Whatever a cohort cannot take, the plain path executes, or reports as an error.
                log.exception("planning a subscription cohort failed; using the plain path")
        if cohorts is None or plan is None:
            await super().run_operation(operation)
            return
        socket = self.context.request
        assert isinstance(socket, WebSocket)
        prefix = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        try:
            async with cohorts.member(plan) as outbox:
                SlowClientGuard(outbox, socket)
                while True:
                    payload = await outbox.get()
                    await socket.send_text((prefix + payload + b"}").decode())
        except (SlowConsumer, WebSocketDisconnect, RuntimeError):
            # Closed for falling behind, or the socket went away; the handler's own loop cleans up.
            return


class OddsgateGraphQL(GraphQL[GraphQLContext, None]):
    graphql_transport_ws_handler_class = CohortHandler

    def __init__(self, settings: Settings):
        super().__init__(
            build_schema(settings.graphql_max_depth, settings.graphql_max_aliases, settings.graphql_max_tokens),
            graphql_ide=None,
            # graphql-ws (the legacy protocol) lets a client skip connection_init: never offered.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.settings = settings
        self._cohorts: Cohorts | None = None

    def cohorts_in_use(self) -> list[Cohort]:
        return [] if self._cohorts is None else list(self._cohorts.active.values())

    def cohorts(self, context: GraphQLContext) -> Cohorts | None:
        if not self.settings.graphql_cohorts:
            return None
        if self._cohorts is None:
            self._cohorts = Cohorts(
                self.schema,  # type: ignore[arg-type]
                context.hub,
                context.book,
                context.normalizer,
                rules=limit_rules(self.settings.graphql_max_depth, self.settings.graphql_max_aliases),
                max_tokens=self.settings.graphql_max_tokens,
                client_queue=context.client_queue,
                slow_after=context.slow_client_seconds,
            )
        return self._cohorts

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> GraphQLContext:
        services: Services = request.app.state.services
        return GraphQLContext(
            request=request,
            response=response,
            book=services.book,
            normalizer=services.normalizer,
            hub=services.hub,
            client_queue=self.settings.client_queue,
            slow_client_seconds=self.settings.slow_client_seconds,
            authorization=request.headers.get("authorization"),
        )

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """The connection_init payload: `{"authorization": "Bearer <JWT>"}` when the client sends one."""
        authorization = context.connection_params.get("authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": "authorization must be a string"})
        context.authorization = authorization or context.authorization
        acknowledged: UnsetType = UNSET
        return acknowledged
