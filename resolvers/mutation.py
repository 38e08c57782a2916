"""GraphQL mutations for the control layer: thin, over the same service as the REST routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers.betting import BettingMutation
from resolvers.context import GraphQLContext
from resolvers.errors import graphql_errors


@strawberry.input(description="Any prefix of sport > event > market > outcome.")
class OverrideScopeInput:
    sport: str | None = None
    event_id: str | None = None
    market_id: str | None = None
    outcome_id: str | None = None


@strawberry.type(name="OverrideRecord")
class OverrideRecordGQL:
    id: strawberry.ID
    action: str
    scope: JSON
    value: float | None
    reason: str
    actor: str
    created_at: datetime
    active: bool
    replaces: str | None
    target_id: str | None
    deltas: int


def _record(body: dict[str, Any]) -> OverrideRecordGQL:
    return OverrideRecordGQL(
        id=strawberry.ID(body["id"]),
        action=body["action"],
        scope=body["scope"],
        value=body["value"],
        reason=body["reason"],
        actor=body["actor"],
        created_at=body["created_at"],
        active=body["active"],
        replaces=body["replaces"],
        target_id=body["target_id"],
        deltas=body.get("deltas", 0),
    )


@strawberry.type
class Mutation(BettingMutation):
    @strawberry.mutation(description="Suspend, resume, set a margin or fix a price; scope odds:control.")
    async def create_override(
        self,
        info: Info[GraphQLContext, None],
        scope: OverrideScopeInput,
        action: str,
        reason: str,
        value: float | None = None,
    ) -> OverrideRecordGQL:
        context = info.context
        principal = context.require("odds:control")
        given = {k: v for k, v in vars(scope).items() if v is not None}
        body = {"scope": given, "action": action, "reason": reason, "value": None if value is None else str(value)}
        with graphql_errors():
            return _record(await context.control.create(principal, body))

    @strawberry.mutation(description="Undo an override that is in force, as a new audited action.")
    async def rollback_override(
        self, info: Info[GraphQLContext, None], id: strawberry.ID, reason: str | None = None
    ) -> OverrideRecordGQL:
        context = info.context
        principal = context.require("odds:control")
        with graphql_errors():
            return _record(await context.control.rollback(principal, str(id), {"reason": reason}))
