"""GraphQL for operators: overrides, stored alerts, exposure, the book's report and webhooks; thin,
over the same use-cases as the REST routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers.alerts import AlertGQL, alert_gql
from resolvers.context import GraphQLContext
from schema.commands import CreateOverride, RegisterWebhook, RollbackOverride, command
from schema.paging import DEFAULT_PAGE, Page
from schema.render import plain_json
from usecases.operators import AlertFilter, OverrideFilter


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


@strawberry.type(name="Exposure", description="The house's stakes and liability on one outcome.")
class ExposureGQL:
    event_id: str
    market_id: str
    outcome_id: str
    stakes: str
    liability: str


@strawberry.type(name="Webhook", description="A registration; its secret is never shown.")
class WebhookGQL:
    id: strawberry.ID
    url: str
    events: list[str]
    sports: JSON | None
    event_ids: list[str] | None
    owner: str
    owner_sports: list[str] | None
    owner_region: str | None
    created_at: datetime
    active: bool


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


def _webhook(body: dict[str, Any]) -> WebhookGQL:
    return WebhookGQL(
        id=strawberry.ID(body["id"]),
        url=body["url"],
        events=list(body["events"]),
        sports=None if body.get("sports") is None else JSON(body["sports"]),
        event_ids=body.get("event_ids"),
        owner=body["owner"],
        owner_sports=body.get("owner_sports"),
        owner_region=body.get("owner_region"),
        created_at=body["created_at"],
        active=bool(body["active"]),
    )


@strawberry.type
class ControlQuery:
    @strawberry.field(description="Override actions and rollbacks, newest first (scope odds:control).")
    async def overrides(
        self,
        info: Info[GraphQLContext, None],
        active: bool | None = None,
        sport: str | None = None,
        event_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
    ) -> list[OverrideRecordGQL]:
        context = info.context
        selected = OverrideFilter(active, sport, event_id, actor, action, since)
        found = await context.operators.overrides(context.caller(), selected, Page(limit, offset))
        return [_record(r) for r in found.items]

    @strawberry.field(description="Stored alerts, newest first (scope odds:control).")
    async def alerts(
        self,
        info: Info[GraphQLContext, None],
        kind: str | None = None,
        event_id: str | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
    ) -> list[AlertGQL]:
        context = info.context
        found = await context.operators.alerts_raised(
            context.caller(), AlertFilter(kind, event_id, since), Page(limit, offset)
        )
        return [alert_gql(a) for a in found.items]

    @strawberry.field(description="The house's stakes and liability per outcome (scope odds:control).")
    async def exposure(self, info: Info[GraphQLContext, None]) -> list[ExposureGQL]:
        context = info.context
        lines = await context.operators.exposure(context.caller())
        return [
            ExposureGQL(
                event_id=line["event_id"],
                market_id=line["market_id"],
                outcome_id=line["outcome_id"],
                stakes=line["stakes"],
                liability=line["liability"],
            )
            for line in lines
        ]

    @strawberry.field(description="Everyone's settled bets: PnL, ROI, win rate by sport and market (odds:control).")
    async def book_report(self, info: Info[GraphQLContext, None]) -> JSON:
        context = info.context
        return JSON(plain_json(await context.operators.book_report(context.caller())))

    @strawberry.field(description="The caller's webhooks (scope webhooks:manage or odds:control).")
    async def webhooks(self, info: Info[GraphQLContext, None]) -> list[WebhookGQL]:
        context = info.context
        return [_webhook(w) for w in await context.operators.registered_webhooks(context.caller())]


@strawberry.type
class ControlMutation:
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
        given = {k: v for k, v in vars(scope).items() if v is not None}
        body = {"scope": given, "action": action, "reason": reason, "value": None if value is None else str(value)}
        return _record(await context.operators.override(context.caller(), command(CreateOverride, body)))

    @strawberry.mutation(description="Undo an override that is in force, as a new audited action.")
    async def rollback_override(
        self, info: Info[GraphQLContext, None], id: strawberry.ID, reason: str | None = None
    ) -> OverrideRecordGQL:
        context = info.context
        rollback = command(RollbackOverride, {"reason": reason})
        return _record(await context.operators.rollback_override(context.caller(), str(id), rollback))

    @strawberry.mutation(description="Register a webhook, as POST /api/v2/webhooks.")
    async def register_webhook(
        self,
        info: Info[GraphQLContext, None],
        url: str,
        events: list[str],
        secret: str,
        sports: list[str] | None = None,
        event_ids: list[str] | None = None,
    ) -> WebhookGQL:
        context = info.context
        body: dict[str, Any] = {"url": url, "events": events, "secret": secret}
        if sports is not None:
            body["sports"] = sports
        if event_ids is not None:
            body["event_ids"] = event_ids
        return _webhook(await context.operators.register_webhook(context.caller(), command(RegisterWebhook, body)))

    @strawberry.mutation(description="Remove a webhook; what was still queued for it is cancelled.")
    async def remove_webhook(self, info: Info[GraphQLContext, None], id: strawberry.ID) -> bool:
        context = info.context
        await context.operators.remove_webhook(context.caller(), str(id))
        return True
