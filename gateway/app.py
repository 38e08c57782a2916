"""The Starlette application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from gateway.access import RateLimitHeaders
from gateway.errors import EXCEPTION_HANDLERS
from gateway.graphql import GraphQLGuard, OddsgateGraphQL
from gateway.metrics import RequestTimer
from gateway.partner_ws import partner_endpoint
from gateway.routes import bets, control, ingest, insights, odds, ops, wallet, web
from gateway.services import start_services, stop_services
from gateway.settings import Settings


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
    app = Starlette(
        routes=[
            *ops.ROUTES,
            *ingest.ROUTES,
            *odds.ROUTES,
            *control.ROUTES,
            *wallet.ROUTES,
            *bets.ROUTES,
            *insights.ROUTES,
            *web.ROUTES,
            Route("/graphql", GraphQLGuard(graphql), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            WebSocketRoute("/ws", partner_endpoint),
        ],
        middleware=[Middleware(RequestTimer), Middleware(RateLimitHeaders)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.graphql = graphql
    return app
