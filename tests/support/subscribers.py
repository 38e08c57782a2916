"""Whether a subscription is in place on the server. graphql-transport-ws acknowledges nothing
when a subscription starts, so a test that publishes right after subscribing first waits
(`tests.support.waiting.until`) for the gateway to hold it."""

from __future__ import annotations

from starlette.applications import Starlette

from gateway.services import Services


def cohort_members(app: Starlette) -> int:
    """Subscriptions that joined a GraphQL cohort (documents the cohorts can take)."""
    return sum(len(cohort.members) for cohort in app.state.graphql.cohorts_in_use())


def hub_listeners(services: Services) -> int:
    """Everything the hub hands deltas to: cohorts, plain-path subscriptions, /ws connections.
    The hub announces no new listener, so its index is read."""
    return len(services.hub._keys)


def alert_listeners(services: Services) -> int:
    """Alert subscriptions (GraphQL and /ws) the alert service delivers to."""
    return len(services.alerts._listeners)
