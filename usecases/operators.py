"""What operators read: the control layer's history, stored alerts, the house's exposure and the book's
reports. Each lists only what the caller's token sees; every door calls these."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auth.access import AccessControl
from auth.principal import MANAGE_WEBHOOKS, Principal
from betting.reports import BookReports
from feeds.alerts import Alert
from feeds.normalize import Normalizer
from schema.commands import CreateOverride, RegisterWebhook, RollbackOverride
from schema.paging import Page, Paged
from schema.times import query_time
from usecases.alerting import AlertService, stored_alert
from usecases.control import ControlService
from usecases.webhooks import WebhookService

CONTROL = "odds:control"


@dataclass(slots=True, frozen=True)
class OverrideFilter:
    active: bool | None = None
    sport: str | None = None
    event_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None


@dataclass(slots=True, frozen=True)
class AlertFilter:
    kind: str | None = None
    event_id: str | None = None
    since: datetime | None = None


class OperatorViews:
    def __init__(
        self,
        access: AccessControl,
        normalizer: Normalizer,
        control: ControlService,
        alerts: AlertService,
        reports: BookReports,
        webhooks: WebhookService,
    ):
        self.access = access
        self.normalizer = normalizer
        self.control = control
        self.alerts = alerts
        self.reports = reports
        self.webhooks = webhooks

    async def override(self, principal: Principal, command: CreateOverride) -> dict[str, Any]:
        """Suspend, resume, set a margin or fix a price at any scope: a live, audited action."""
        self.access.admit(principal, CONTROL)
        return await self.control.create(principal, command)

    async def rollback_override(
        self, principal: Principal, override_id: str, command: RollbackOverride
    ) -> dict[str, Any]:
        """Undo an override that is in force, as a new audited action."""
        self.access.admit(principal, CONTROL)
        return await self.control.rollback(principal, override_id, command)

    async def overrides(self, principal: Principal, selected: OverrideFilter, page: Page) -> Paged[dict[str, Any]]:
        """Actions and rollbacks, newest first; `sport` as clients write it (`nfl`)."""
        self.access.admit(principal, CONTROL)
        sport = self.normalizer.sport_and_league(selected.sport, None)[0] if selected.sport else None
        rows, total = await self.control.history(
            principal,
            active=selected.active,
            sport=sport,
            event_id=selected.event_id,
            actor=selected.actor,
            action=selected.action,
            since=query_time(selected.since, "since"),
            limit=page.limit,
            offset=page.offset,
        )
        return Paged(rows, total, page)

    async def alerts_raised(self, principal: Principal, selected: AlertFilter, page: Page) -> Paged[Alert]:
        """Stored alerts, newest first."""
        self.access.admit(principal, CONTROL)
        rows, total = await self.alerts.list(
            self.access.visibility(principal),
            kind=selected.kind,
            event_id=selected.event_id,
            since=query_time(selected.since, "since"),
            limit=page.limit,
            offset=page.offset,
        )
        return Paged([stored_alert(row) for row in rows], total, page)

    def alert_stream(self, principal: Principal) -> AsyncIterator[Alert]:
        """Alerts as they are raised, on events the caller's token sees."""
        self.access.admit(principal, CONTROL)
        return self.alerts.stream(self.access.visibility(principal))

    async def exposure(self, principal: Principal) -> list[dict[str, Any]]:
        """The house's stakes and liability per outcome."""
        self.access.admit(principal, CONTROL)
        return await self.reports.exposure(self.access.visibility(principal))

    async def book_report(self, principal: Principal) -> dict[str, Any]:
        """Everyone's settled bets: PnL, ROI and win rate, by sport and market."""
        self.access.admit(principal, CONTROL)
        return await self.reports.report(self.access.visibility(principal))

    async def register_webhook(self, principal: Principal, command: RegisterWebhook) -> dict[str, Any]:
        self.access.admit(principal, MANAGE_WEBHOOKS)
        return await self.webhooks.register(principal, command)

    async def registered_webhooks(self, principal: Principal) -> list[dict[str, Any]]:
        """The caller's webhooks (everyone's for an admin); secrets are never shown."""
        self.access.admit(principal, MANAGE_WEBHOOKS)
        return await self.webhooks.registered(principal)

    async def remove_webhook(self, principal: Principal, webhook_id: str) -> None:
        self.access.admit(principal, MANAGE_WEBHOOKS)
        await self.webhooks.remove(principal, webhook_id)

    async def deliveries(
        self, principal: Principal, webhook_id: str, status: str | None, page: Page
    ) -> Paged[dict[str, Any]]:
        """A webhook's delivery log, newest first."""
        self.access.admit(principal, MANAGE_WEBHOOKS)
        rows, total = await self.webhooks.deliveries(principal, webhook_id, status, page.limit, page.offset)
        return Paged(rows, total, page)
