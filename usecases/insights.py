"""Match insights as every door serves them: one event's insight for the caller's audience, the
log of what was served, and accuracy."""

from __future__ import annotations

from typing import Any

from auth.access import AccessControl
from auth.principal import Principal
from feeds.audience import Audience
from feeds.book import OddsBook
from insights.service import InsightService
from schema.insight import Insight
from schema.paging import Page

READ = "insights:read"
CONTROL = "odds:control"


class InsightReading:
    def __init__(self, book: OddsBook, access: AccessControl, insights: InsightService):
        self.book = book
        self.access = access
        self.insights = insights

    async def insight(self, principal: Principal, event_id: str) -> Insight:
        """Written from the prices the caller's audience is shown; cached per audience. A
        source-limited audience gets no price history in the prompt: the audit holds everyone's."""
        self.access.admit(principal, READ)
        visibility = self.access.visibility(principal)
        event = Audience(self.book, visibility).event(event_id)
        return await self.insights.insight(event, visibility.key(), history=visibility.sources is None)

    async def log(self, principal: Principal, event_id: str, page: Page) -> list[dict[str, Any]]:
        """What was served for an event, newest first."""
        self.access.admit(principal, CONTROL)
        return await self.insights.log(event_id, page.limit)

    async def accuracy(self, principal: Principal, sport: str | None) -> list[dict[str, Any]]:
        self.access.admit(principal, READ)
        return await self.insights.accuracy(sport)
