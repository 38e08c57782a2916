"""`/graphql`: strawberry over Starlette, graphql-transport-ws only, with subscription cohorts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types.unset import UNSET, UnsetType

from auth.access import AccessControl
from auth.errors import RateLimited
from auth.principal import Principal
from auth.ratelimit import parse_rate
from feeds.outbox import SlowConsumer
from gateway.errors import on_oddsgate_error, status_response
from gateway.graphql_cohorts import Cohort, Cohorts
from gateway.origins import socket_origin_allowed
from gateway.services import Services
from gateway.settings import Settings
from gateway.ws_rules import CLOSE_FORBIDDEN, CLOSE_RATE, CLOSE_UNAUTHENTICATED, ConnectionRate
from resolvers import build_schema, limit_rules
from resolvers.context import GraphQLContext
from resolvers.slow_clients import SlowClientGuard
from schema.errors import OddsgateError
from schema.visibility import EVERYTHING

log = logging.getLogger(__name__)
MAX_OPERATION_ID = 128
# The event loop keeps only weak references to tasks; closes and pings in flight are kept here.
_closing: set[asyncio.Task[None]] = set()


class CohortHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws, where an `oddsUpdated` subscription joins its cohort, the token is
    checked in connection_init, and every message and subscription is counted."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        view = self.view
        assert isinstance(view, OddsgateGraphQL)
        self.settings = view.settings
        self._rate = ConnectionRate(parse_rate(view.settings.ws_message_rate))
        self._expiry: asyncio.TimerHandle | None = None
        self._unwatch: Callable[[], None] | None = None
        # A timer, not a task: an idle connection should hold as little as possible.
        self._heartbeat: asyncio.TimerHandle | None = None

    async def run_operation(self, operation: Operation[GraphQLContext, None]) -> None:
        view = self.view
        assert isinstance(view, OddsgateGraphQL)
        cohorts = view.cohorts(self.context)
        plan = None
        principal = self.context.principal
        # Refusals (scope, region) are reported by the plain path, as for any other operation.
        if cohorts is not None and principal is not None and principal.has_scope("odds:read"):
            try:
                plan = cohorts.plan(
                    operation.query, operation.variables, operation.operation_name, self.context.visibility
                )
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

    async def handle_message(self, message: Any) -> None:
        if not self._rate.allow():
            await self.websocket.close(code=CLOSE_RATE, reason="too many messages on this connection")
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        """The token is read here, before strawberry acknowledges: a refusal closes with its own code."""
        if not self.connection_init_received and not self.connection_timed_out:
            payload = message.get("payload") or {}
            context = self.context
            try:
                header = payload.get("authorization") if isinstance(payload, dict) else None
                principal = context.access.authenticate_header(
                    header if isinstance(header, str) else context.authorization,
                    context.request.headers.get("origin"),
                )
                context.access.admit(principal, "odds:read")
                await context.access.charge(principal)
            except OddsgateError as exc:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                self.connection_init_received = True
                code = CLOSE_UNAUTHENTICATED if exc.code == "UNAUTHENTICATED" else CLOSE_FORBIDDEN
                await self.websocket.close(code=code, reason=f"{exc.code}: {exc.message}"[:120])
                return
            context.principal, context.visibility = principal, context.access.visibility(principal)
            delay = (principal.expires_at - datetime.now(UTC)).total_seconds()
            self._expiry = asyncio.get_running_loop().call_later(max(0.0, delay), self._expired)
            self._unwatch = context.access.watch(principal, self._revoked)
        await super().handle_connection_init(message)
        if self.context.principal is not None:
            # Read above; the token is not needed again for the connection's life.
            self.context.connection_params, self.context.authorization = {}, None
        task = self.connection_init_timeout_task
        if task is not None and (task.done() or task.cancelling()):
            # Cancelled by the init: strawberry would otherwise keep it, and the CancelledError
            # with its traceback, for the connection's whole life.
            self.connection_init_timeout_task = None
        if self.connection_acknowledged and self._heartbeat is None:
            self._schedule_ping()

    def _schedule_ping(self) -> None:
        self._heartbeat = asyncio.get_running_loop().call_later(self.settings.ws_heartbeat, self._ping)

    def _ping(self) -> None:
        """Server pings (the protocol allows them) keep idle subscriptions alive through proxies."""
        task = asyncio.get_running_loop().create_task(self._send_ping())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
        self._schedule_ping()

    async def _send_ping(self) -> None:
        with contextlib.suppress(WebSocketDisconnected, WebSocketDisconnect, RuntimeError):
            await self.send_message({"type": "ping"})

    def _expired(self) -> None:
        self._close_later(CLOSE_UNAUTHENTICATED, "the token expired")

    def _revoked(self) -> None:
        self._close_later(CLOSE_UNAUTHENTICATED, "the token was revoked")

    def _close_later(self, code: int, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self.websocket.close(code=code, reason=reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def handle_subscribe(self, message: Any) -> None:
        operation_id = message.get("id") if isinstance(message, dict) else None
        if isinstance(operation_id, str) and len(operation_id) > MAX_OPERATION_ID:
            # The protocol's answer to a message it cannot take: 4400. An id is kept for the
            # operation's life, so its size is bounded like everything a client makes us hold.
            await self.websocket.close(code=4400, reason=f"operation ids are at most {MAX_OPERATION_ID} characters")
            return
        payload = message.get("payload") if isinstance(message, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("query"), str):
            # Widgets send the same document by the thousand; each operation keeps its text.
            payload["query"] = sys.intern(payload["query"])
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None:
            if len(self.operations) >= self.settings.ws_max_subscriptions:
                await self.websocket.close(code=CLOSE_RATE, reason="too many subscriptions on this connection")
                return
            try:
                await self.context.access.charge(principal)
            except RateLimited as exc:
                error = GraphQLError(exc.message, extensions={"code": exc.code, "retry_after": exc.retry_after})
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
        if self._expiry is not None:
            self._expiry.cancel()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
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
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            # strawberry answers its own refusals (unreadable body, wrong media type) in plain text.
            response = status_response(exc.status_code, exc.reason)
        await response(scope, receive, send)

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
            control=services.control,
            betting=services.bets,
            alerts=services.alerts,
            insights=services.insights,
            sources=services.sources,
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
