"""GraphQL queries over the live book."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from resolvers.betting import BettingQuery
from resolvers.context import GraphQLContext
from resolvers.control import ControlQuery
from schema.graphql import EventGQL, InsightGQL, SourceGQL, event_gql, events_gql, insight_gql
from schema.paging import DEFAULT_PAGE, Page
from usecases.odds import EventFilter


@strawberry.type
class Query(BettingQuery, ControlQuery):
    @strawberry.field(description="Live events, live first, then by start time.")
    def events(
        self,
        info: Info[GraphQLContext, None],
        sport: str | None = None,
        league: str | None = None,
        status: str | None = None,
        ids: list[str] | None = None,
        markets: list[str] | None = None,
        live: bool | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
    ) -> list[EventGQL]:
        context = info.context
        selected = EventFilter(
            sport=sport,
            league=league,
            event_ids=frozenset(ids) if ids is not None else None,
            markets=tuple(markets) if markets is not None else None,
            status=status,
            live=live,
        )
        found = context.odds.events(context.caller(), selected, Page(limit, offset))
        return events_gql(found.items)

    @strawberry.field(description="One event of the live book, or null.")
    def event(
        self, info: Info[GraphQLContext, None], id: strawberry.ID, markets: list[str] | None = None
    ) -> EventGQL | None:
        context = info.context
        found = context.odds.find(context.caller(), str(id), tuple(markets) if markets is not None else None)
        return None if found is None else event_gql(found)

    @strawberry.field(description="A match insight for a live event (scope insights:read).")
    async def insight(self, info: Info[GraphQLContext, None], event_id: strawberry.ID) -> InsightGQL:
        context = info.context
        return insight_gql(await context.insight_reading.insight(context.caller(), str(event_id)))

    @strawberry.field(
        description="An event as the caller's audience was served it at `at` (default now), from the audit."
    )
    async def history(
        self,
        info: Info[GraphQLContext, None],
        event_id: strawberry.ID,
        at: datetime | None = None,
        market: str | None = None,
    ) -> EventGQL:
        context = info.context
        _, event = await context.odds.history(context.caller(), str(event_id), at, market)
        return event_gql(event)

    @strawberry.field(description="Every source the book has heard from, with its health.")
    def sources(self, info: Info[GraphQLContext, None]) -> list[SourceGQL]:
        context = info.context
        found = context.odds.sources(context.caller())
        return [
            SourceGQL(
                name=s.source,
                up=s.up,
                last_seen=s.last_seen,
                updates=s.updates,
                accuracy_weight=s.accuracy_weight,
            )
            for s in found
        ]
