"""The GraphQL `alerts` subscription (scope odds:control)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from feeds.alerts import Alert


@strawberry.type(name="Alert")
class AlertGQL:
    id: strawberry.ID
    rule: str
    kind: str
    raised_at: datetime
    message: str
    event_id: str | None
    market_id: str | None
    outcome_id: str | None
    source: str | None
    details: JSON


def alert_gql(alert: Alert) -> AlertGQL:
    return AlertGQL(
        id=strawberry.ID(alert.id),
        rule=alert.rule,
        kind=alert.kind,
        raised_at=alert.raised_at,
        message=alert.message,
        event_id=alert.event_id,
        market_id=alert.market_id,
        outcome_id=alert.outcome_id,
        source=alert.source,
        details=JSON(alert.details),
    )
