"""The Starlette application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from gateway.access import RateLimitHeaders
from gateway.errors import EXCEPTION_HANDLERS
from gateway.graphql import GraphQLGuard, OddsgateGraphQL
from gateway.metrics import RequestTimer
from gateway.partner_ws import partner_endpoint
from gateway.request_limits import BodyLimits, LimitedBodies
from gateway.routes import bets, control, docs, ingest, insights, odds, ops, wallet, web
from gateway.services import start_services, stop_services
from gateway.settings import Settings


class Gateway(Starlette):
    """WebSockets go straight to their endpoint. The middleware stack would only pass them through,
    yet its suspended frames would stay alive for as long as each socket is open (~5 KB apiece);
    the endpoints answer their own errors in the contract's shape."""

    def __init__(self, sockets: dict[str, ASGIApp], **kwargs: Any):
        super().__init__(**kwargs)
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.sockets.get(scope["path"]) if scope["type"] == "websocket" else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await endpoint(scope, receive, send)


async def _partner(scope: Scope, receive: Receive, send: Send) -> None:
    await partner_endpoint(WebSocket(scope, receive, send))


def body_limits(settings: Settings) -> BodyLimits:
    return BodyLimits(settings.ingest_max_body_bytes, settings.graphql_max_body_bytes, settings.request_max_body_bytes)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await start_services(settings)
        app.state.services = services
        # What start-up loaded (aliases, adapters, the restored book) lives as long as the process:
        # kept out of every later collection's scan.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await stop_services(services)

    graphql = OddsgateGraphQL(settings)
    app = Gateway(
        {"/graphql": graphql, "/ws": _partner},
        routes=[
            *ops.ROUTES,
            *ingest.ROUTES,
            *odds.ROUTES,
            *control.ROUTES,
            *wallet.ROUTES,
            *bets.ROUTES,
            *insights.ROUTES,
            *web.ROUTES,
            *docs.ROUTES,
            Route("/graphql", GraphQLGuard(graphql), methods=["GET", "POST"]),
        ],
        middleware=[
            Middleware(RequestTimer),
            Middleware(LimitedBodies, limits=body_limits(settings), timeout=settings.body_timeout),
            Middleware(RateLimitHeaders),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.graphql = graphql
    return app
