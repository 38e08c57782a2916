"""GraphQL subscriptions: the plain path, one execution per subscriber.

Subscriptions that share a document join a cohort in `gateway.graphql` instead and are executed
once for all; this path serves the one-off documents (several root fields, fragments at the root).
Both start, resume and resynchronise by the one rule in `feeds.resume`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from starlette.websockets import WebSocket
from strawberry.types import Info

from feeds.filters import DeltaFilter
from feeds.outbox import Outbox, SlowConsumer
from feeds.resume import Snapshot, Subscriber, positions, shown
from resolvers.alerts import AlertGQL, alert_gql
from resolvers.context import GraphQLContext
from resolvers.errors import graphql_errors
from resolvers.slow_clients import SlowClientGuard
from schema.graphql import OddsDeltaGQL, delta_gql, snapshot_gql
from schema.model import Delta

SINCE_USAGE = "'since' lists {eventId, seq, epoch} as the last delta received of each event carried them"


@strawberry.input(name="EventPosition", description="The last delta of an event a client received, as it carried them.")
class EventPosition:
    event_id: str
    seq: int
    epoch: str | None = strawberry.field(
        default=None, description="Without it, a sequence that started over is not told apart from one that went on"
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Deltas of the live book as they happen, each with its event's seq. It opens with a "
        "SNAPSHOT of each selected event, or, for the events in `since`, with exactly the deltas missed "
        "(a SNAPSHOT marked `reset` when the server no longer holds them all)."
    )
    async def odds_updated(
        self,
        info: Info[GraphQLContext, None],
        event_ids: list[str] | None = None,
        sport: str | None = None,
        markets: list[str] | None = None,
        since: Annotated[
            list[EventPosition] | None,
            strawberry.argument(
                description="Where a client that reconnects stands: the last delta it received per event"
            ),
        ] = None,
        snapshot: Annotated[
            bool, strawberry.argument(description="Open with a SNAPSHOT of every selected event not in `since`")
        ] = True,
    ) -> AsyncGenerator[OddsDeltaGQL, None]:
        context = info.context
        with graphql_errors():
            audience = context.odds.audience(context.caller())
            selection = DeltaFilter.of(context.normalizer, event_ids, sport, markets, audience.visibility)
            marks = positions(((p.event_id, p.seq, p.epoch) for p in since or ()), SINCE_USAGE)

        def render(delta: Delta, marked: bool) -> OddsDeltaGQL:
            return delta_gql(audience.delta(delta), conflated=marked)

        def render_snapshot(found: Snapshot) -> OddsDeltaGQL:
            assert found.event is not None
            return snapshot_gql(shown(found.event, (selection,), audience), found.reset)

        outbox: Outbox[OddsDeltaGQL] = Outbox(
            context.client_queue, context.slow_client_seconds, lambda delta: render(delta, True)
        )
        if isinstance(context.request, WebSocket):
            SlowClientGuard(outbox, context.request)
        subscriber = Subscriber(context.hub, selection, outbox, render, render_snapshot)
        subscriber.start(marks, snapshots=snapshot)
        try:
            while True:
                yield await outbox.get()
        except SlowConsumer:
            return
        finally:
            subscriber.stop()

    @strawberry.subscription(
        description="Alerts as they are raised (price moves, thresholds, divergence, sources down)."
    )
    async def alerts(self, info: Info[GraphQLContext, None]) -> AsyncGenerator[AlertGQL, None]:
        context = info.context
        with graphql_errors():
            alerts = context.operators.alert_stream(context.caller())
        async for alert in alerts:
            yield alert_gql(alert)
