"""GraphQL queries over the live book."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from feeds.audience import Audience
from feeds.queries import EventQuery, find_events, sport_and_league_filter
from resolvers.betting import BettingQuery
from resolvers.context import GraphQLContext
from resolvers.errors import graphql_errors
from schema.errors import InvalidRequest
from schema.graphql import EventGQL, InsightGQL, SourceGQL, event_gql, events_gql, insight_gql

MAX_PAGE = 500


@strawberry.type
class Query(BettingQuery):
    @strawberry.field(description="Live events, live first, then by start time.")
    def events(
        self,
        info: Info[GraphQLContext, None],
        sport: str | None = None,
        league: str | None = None,
        status: str | None = None,
        ids: list[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[EventGQL]:
        context = info.context
        context.require("odds:read")
        with graphql_errors():
            if not 1 <= limit <= MAX_PAGE or offset < 0:
                raise InvalidRequest(f"limit must be 1-{MAX_PAGE} and offset at least 0")
            sport_name, league_name = sport_and_league_filter(context.normalizer, sport, league)
            query = EventQuery(
                sport=sport_name,
                league=league_name,
                event_ids=frozenset(ids) if ids is not None else None,
                status=context.normalizer.status(status) if status else None,
                limit=limit,
                offset=offset,
                visibility=context.visibility,
            )
            events, _ = find_events(context.book, query)
        return events_gql(events)

    @strawberry.field(description="One event of the live book, or null.")
    def event(self, info: Info[GraphQLContext, None], id: strawberry.ID) -> EventGQL | None:
        context = info.context
        context.require("odds:read")
        event = context.book.event(str(id))
        if event is None:
            return None
        with graphql_errors():
            return event_gql(Audience(context.book, context.visibility).shown(event))

    @strawberry.field(description="A match insight for a live event (scope insights:read).")
    async def insight(self, info: Info[GraphQLContext, None], event_id: strawberry.ID) -> InsightGQL:
        context = info.context
        context.require("insights:read")
        with graphql_errors():
            visible = Audience(context.book, context.visibility).event(str(event_id))
            insight = await context.insights.insight(
                visible, context.visibility.key(), history=context.visibility.sources is None
            )
        return insight_gql(insight)

    @strawberry.field(description="Every source the book has heard from, with its health.")
    def sources(self, info: Info[GraphQLContext, None]) -> list[SourceGQL]:
        info.context.require("odds:read")
        book = info.context.book
        return [
            SourceGQL(
                name=s.name,
                up=s.up,
                last_seen=_utc(s.last_seen),
                updates=s.updates,
                accuracy_weight=book.consensus.weight(s.name),
            )
            for s in info.context.sources.health()
        ]


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
