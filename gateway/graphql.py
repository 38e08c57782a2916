"""`/graphql`: strawberry over Starlette, graphql-transport-ws only, with subscription cohorts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from auth.access import AccessControl
from auth.principal import Principal
from feeds.outbox import SlowConsumer
from gateway.errors import on_oddsgate_error, status_response
from gateway.graphql_cohorts import Cohort, Cohorts
from gateway.graphql_http import (
    GRAPHQL_RESPONSE,
    JSON,
    WEBSOCKET_REQUIRED,
    OperationRefused,
    accepted_media_type,
    content_type,
    is_request_error,
)
from gateway.origins import socket_origin_allowed
from gateway.services import Services
from gateway.settings import Settings
from gateway.socket_core import CLOSE_BAD_MESSAGE, CLOSE_FORBIDDEN, InitTimeout, SocketSession
from resolvers import build_schema, limit_rules
from resolvers.context import GraphQLContext
from resolvers.slow_clients import SlowClientGuard
from schema.errors import InvalidRequest, OddsgateError
from schema.visibility import EVERYTHING

log = logging.getLogger(__name__)
MAX_OPERATION_ID = 128
# The event loop keeps only weak references to tasks; closes and pings in flight are kept here.
_closing: set[asyncio.Task[None]] = set()


class CohortHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws over the socket core (`gateway.socket_core`): the token is taken in
    connection_init, every message and subscription is counted, and an `oddsUpdated` subscription
    joins its cohort."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        view = self.view
        assert isinstance(view, OddsgateGraphQL)
        context = self.context
        self.session = SocketSession(
            context.access, view.settings, context.request.headers.get("origin"), self._close_later
        )

    def on_request_accepted(self) -> None:
        # The core's timer instead of strawberry's task: it closes with the same 4408.
        self.session.expect_token()

    async def run_operation(self, operation: Operation[GraphQLContext, None]) -> None:
        view = self.view
        assert isinstance(view, OddsgateGraphQL)
        cohorts = view.cohorts(self.context)
        ticket = None
        if cohorts is not None and self.session.admitted:
            try:
                ticket = cohorts.plan(
                    operation.query, operation.variables, operation.operation_name, self.session.visibility
                )
            except Exception:
                # Whatever a cohort cannot take, the plain path executes, or reports as an error.
                log.exception("planning a subscription cohort failed; using the plain path")
        if cohorts is None or ticket is None:
            await super().run_operation(operation)
            return
        socket = self.context.request
        assert isinstance(socket, WebSocket)
        prefix = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        try:
            async with cohorts.member(ticket) as outbox:
                SlowClientGuard(outbox, socket)
                while True:
                    payload = await outbox.get()
                    await socket.send_text((prefix + payload + b"}").decode())
        except (SlowConsumer, WebSocketDisconnect, RuntimeError):
            # Closed for falling behind, or the socket went away; the handler's own loop cleans up.
            return

    async def handle_message(self, message: Any) -> None:
        try:
            self.session.count_message()
        except OddsgateError as exc:
            await self._close(exc)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        """The token is taken here, before strawberry acknowledges: a refusal closes with its own code."""
        if not self.connection_init_received and not self.connection_timed_out:
            payload = message.get("payload") or {}
            header = payload.get("authorization") if isinstance(payload, dict) else None
            try:
                await self.session.admit_header(header if isinstance(header, str) else self.context.authorization)
            except OddsgateError as exc:
                self.connection_init_received = True
                await self._close(exc)
                return
            self.context.principal, self.context.visibility = self.session.principal, self.session.visibility
        await super().handle_connection_init(message)
        if self.session.admitted:
            # Read above; the token is not needed again for the connection's life.
            self.context.connection_params, self.context.authorization = {}, None
        if self.connection_acknowledged:
            self.session.keep_alive(self._ping)

    async def handle_subscribe(self, message: Any) -> None:
        operation_id = message.get("id") if isinstance(message, dict) else None
        if isinstance(operation_id, str) and len(operation_id) > MAX_OPERATION_ID:
            # An id is kept for the operation's life, so its size is bounded like everything a
            # client makes us hold; the protocol's answer to a message it cannot take is 4400.
            await self._close_with(
                CLOSE_BAD_MESSAGE, InvalidRequest(f"operation ids are at most {MAX_OPERATION_ID} characters")
            )
            return
        payload = message.get("payload") if isinstance(message, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("query"), str):
            # Widgets send the same document by the thousand; each operation keeps its text.
            payload["query"] = sys.intern(payload["query"])
        if self.connection_acknowledged and self.session.admitted:
            try:
                self.session.count_subscriptions(len(self.operations) + 1)
                await self.session.charge()
            except OddsgateError as exc:
                if self.session.close_code(exc) is not None:
                    await self._close(exc)
                    return
                error = GraphQLError(exc.message, extensions={"code": exc.code, **exc.details})
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
        await super().handle_subscribe(message)

    def _ping(self) -> None:
        """Server pings (the protocol allows them) keep idle subscriptions alive through proxies."""
        self._keep(asyncio.get_running_loop().create_task(self._send_ping()))

    async def _send_ping(self) -> None:
        with contextlib.suppress(WebSocketDisconnected, WebSocketDisconnect, RuntimeError):
            await self.send_message({"type": "ping"})

    def _close_later(self, code: int, error: OddsgateError) -> None:
        """How the core's timers and revocation watch end the connection, outside any message."""
        if isinstance(error, InitTimeout):
            self.connection_timed_out = True
        self._keep(asyncio.get_running_loop().create_task(self._close_with(code, error)))

    async def _close(self, error: OddsgateError) -> None:
        code = self.session.close_code(error)
        await self._close_with(CLOSE_BAD_MESSAGE if code is None else code, error)

    async def _close_with(self, code: int, error: OddsgateError) -> None:
        with contextlib.suppress(WebSocketDisconnected, WebSocketDisconnect, RuntimeError):
            await self.websocket.close(code=code, reason=f"{error.code}: {error.message}"[:120])

    @staticmethod
    def _keep(task: asyncio.Task[None]) -> None:
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def shutdown(self) -> None:
        self.session.end()
        await super().shutdown()


class OddsgateGraphQL(GraphQL[GraphQLContext, None]):
    graphql_transport_ws_handler_class = CohortHandler

    def __init__(self, settings: Settings):
        super().__init__(
            build_schema(
                settings.graphql_max_depth,
                settings.graphql_max_aliases,
                settings.graphql_max_tokens,
                production=settings.environment == "production",
            ),
            graphql_ide=None,
            # graphql-ws (the legacy protocol) lets a client skip connection_init: never offered.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
            # Counted (and closed with 4429) by the handler, which also charges the token's rate.
            max_subscriptions_per_connection=None,
            # Checked in __call__ by the same rule as /ws; strawberry's own check is left open.
            allowed_origins=("*",),
        )
        self.settings = settings
        self._cohorts: Cohorts | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            socket = WebSocket(scope, receive, send)
            if not socket_origin_allowed(socket, self.settings.allowed_origins):
                # Closing before accepting answers the handshake with 403.
                await socket.close(code=CLOSE_FORBIDDEN)
                return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = accepted_media_type(request.headers.get("accept"))
        if media_type is None:
            response = status_response(406, f"answers are {GRAPHQL_RESPONSE} or {JSON}; Accept names neither")
            await response(scope, receive, send)
            return
        # Read by process_result, which sees the result but not the response.
        request.state.graphql_media_type, request.state.graphql_request_error = media_type, False
        try:
            response = await self.run(request)
            response.headers["content-type"] = content_type(media_type)
            if request.state.graphql_request_error:
                response.status_code = 400
        except HTTPException as exc:
            # strawberry answers its own refusals (unreadable body, wrong media type) in plain text.
            response = status_response(exc.status_code, exc.reason)
        except OperationRefused as exc:
            response = exc.response(media_type)
        await response(scope, receive, send)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GraphQLContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """strawberry's, less subscriptions: graphql-core's execute cannot run one (strawberry lets it
        try, and the client got "internal error"). A mutation over GET is 405, as the spec says."""
        get = request_adapter.method == "GET"
        allowed = {OperationType.QUERY} if get else {OperationType.QUERY, OperationType.MUTATION}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise OperationRefused(
                    400,
                    WEBSOCKET_REQUIRED,
                    "subscriptions are served over WebSocket only: connect to /graphql with the "
                    "graphql-transport-ws subprotocol",
                ) from exc
            raise OperationRefused(405, "METHOD_NOT_ALLOWED", "mutations are sent with POST", allow="POST") from exc
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)
        if request.state.graphql_media_type == GRAPHQL_RESPONSE and is_request_error(result):
            # The spec's request error: a 4xx, and no `data` (application/json keeps `"data": null`
            # and 200, as clients written before the spec expect).
            body.pop("data", None)
            request.state.graphql_request_error = True
        return body

    def decode_json(self, data: str | bytes) -> object:
        """orjson's errors are json.JSONDecodeError too, so strawberry answers them with a 400; so
        are bodies that are not UTF-8 (the standard parser raises UnicodeDecodeError: a 500)."""
        body = orjson.loads(data)
        if not isinstance(body, dict | list):
            raise HTTPException(400, 'the body is a JSON object: {"query": ..., "variables"?: {...}}')
        return body

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
        principal: Principal | None = getattr(request.state, "principal", None)
        return GraphQLContext(
            request=request,
            response=response,
            book=services.book,
            normalizer=services.normalizer,
            hub=services.hub,
            client_queue=self.settings.client_queue,
            slow_client_seconds=self.settings.slow_client_seconds,
            authorization=request.headers.get("authorization"),
            access=services.access,
            betting=services.betting,
            odds=services.odds,
            operators=services.operators,
            insight_reading=services.insight_reading,
            principal=principal,
            visibility=services.access.visibility(principal) if principal is not None else EVERYTHING,
        )

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """The connection_init payload: `{"authorization": "Bearer <JWT>"}` when the client sends one."""
        authorization = context.connection_params.get("authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": "authorization must be a string"})
        context.authorization = authorization or context.authorization
        acknowledged: UnsetType = UNSET
        return acknowledged


class GraphQLGuard:
    """`/graphql` over HTTP: the caller is authenticated and charged one unit per request (one
    operation: batching is off) before strawberry runs, refusals in the contract's shape."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            access: AccessControl = request.app.state.services.access
            try:
                principal = access.authenticate_header(
                    request.headers.get("authorization"), request.headers.get("origin")
                )
                request.state.rate = await access.charge(principal)
            except OddsgateError as exc:
                response = await on_oddsgate_error(request, exc)
                await response(scope, receive, send)
                return
            request.state.principal = principal
        await self.app(scope, receive, send)
