"""GraphQL subscriptions: the plain path, one execution per subscriber.

Subscriptions that share a document join a cohort in `gateway.graphql` instead and are executed
once for all; this path serves the one-off documents (several root fields, fragments at the root).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from starlette.websockets import WebSocket
from strawberry.types import Info

from feeds.audience import Audience
from feeds.fanout import OutboxListener, Published
from feeds.filters import DeltaFilter
from feeds.outbox import Outbox, SlowConsumer
from resolvers.alerts import AlertGQL, alert_gql
from resolvers.context import GraphQLContext
from resolvers.errors import graphql_errors
from resolvers.slow_clients import SlowClientGuard
from schema.graphql import OddsDeltaGQL, delta_gql
from schema.model import Delta


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Deltas of the live book as they happen, each with its event's seq.")
    async def odds_updated(
        self,
        info: Info[GraphQLContext, None],
        event_ids: list[str] | None = None,
        sport: str | None = None,
        markets: list[str] | None = None,
    ) -> AsyncGenerator[OddsDeltaGQL, None]:
        context = info.context
        context.require("odds:read")
        with graphql_errors():
            selection = DeltaFilter.of(context.normalizer, event_ids, sport, markets, context.visibility)
        audience = Audience(context.book, context.visibility)

        def render(item: Published) -> OddsDeltaGQL:
            return delta_gql(audience.delta(item.delta))

        def render_conflated(delta: Delta) -> OddsDeltaGQL:
            return delta_gql(audience.delta(delta), conflated=True)

        outbox: Outbox[OddsDeltaGQL] = Outbox(context.client_queue, context.slow_client_seconds, render_conflated)
        if isinstance(context.request, WebSocket):
            SlowClientGuard(outbox, context.request)
        listener = OutboxListener(lambda d: selection.matches(d, context.book), outbox, render, render_conflated)
        context.hub.listen(listener, *selection.index())
        try:
            while True:
                yield await outbox.get()
        except SlowConsumer:
            return
        finally:
            context.hub.unlisten(listener)

    @strawberry.subscription(
        description="Alerts as they are raised (price moves, thresholds, divergence, sources down)."
    )
    async def alerts(self, info: Info[GraphQLContext, None]) -> AsyncGenerator[AlertGQL, None]:
        context = info.context
        context.require("odds:control")
        async for alert in context.alerts.stream(context.visibility):
            yield alert_gql(alert)
