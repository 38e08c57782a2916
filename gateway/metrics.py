"""Prometheus metrics, one registry per app so several apps (tests) never collide."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feeds.ingest import IngestResult
from schema.model import Delta

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingest_updates = Counter(
            "oddsgate_ingest_updates", "Updates received, by adapter and result", ["adapter", "result"], registry=r
        )
        self.ingest_rejections = Counter(
            "oddsgate_ingest_rejections", "Rejected updates, by adapter and error code", ["adapter", "code"], registry=r
        )
        self.ingest_seconds = Histogram(
            "oddsgate_ingest_seconds", "Time to ingest one payload", ["adapter"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.requests = Histogram(
            "oddsgate_request_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.deltas = Counter("oddsgate_deltas", "Deltas emitted by the book, by reason", ["reason"], registry=r)
        self.events = Gauge("oddsgate_book_events", "Events in the live book", registry=r)
        self.connections = Gauge(
            "oddsgate_connections", "Open client WebSocket connections, by protocol", ["protocol"], registry=r
        )
        self.sources_up = Gauge("oddsgate_sources_up", "Sources currently up", registry=r)
        self.sources_down = Gauge("oddsgate_sources_down", "Sources currently marked down", registry=r)
        self.audit_backlog = Gauge("oddsgate_audit_backlog", "Audit rows waiting to be written", registry=r)
        self.audit_written = Gauge("oddsgate_audit_rows_written", "Audit rows written since start", registry=r)
        self.audit_dead_letters = Gauge(
            "oddsgate_audit_dead_letters",
            "Audit rows the database refused on their own, kept in audit_dead_letters, since start",
            registry=r,
        )
        self.hub_dispatched = Gauge("oddsgate_hub_deltas", "Deltas handed to this process's clients", registry=r)
        self.hub_repaired = Gauge(
            "oddsgate_hub_repaired", "Deltas recovered from Redis after pub/sub lost them", registry=r
        )
        self.hub_resets = Gauge("oddsgate_hub_resets", "Events whose clients had to resynchronise", registry=r)
        self.publish_failures = Gauge(
            "oddsgate_broadcast_publish_failures", "Publishes to Redis that failed and were retried", registry=r
        )
        self.broadcast_overflows = Gauge(
            "oddsgate_broadcast_overflows", "Messages not delivered to consumers that fell behind", registry=r
        )
        self.broadcast_outbound = Gauge(
            "oddsgate_broadcast_outbound", "Messages waiting to be published to Redis", registry=r
        )
        self.broadcast_dropped = Gauge(
            "oddsgate_broadcast_dropped", "Messages dropped because Redis was away too long to keep them", registry=r
        )
        self.ingest_refusals = Counter(
            "oddsgate_ingest_refusals",
            "Ingest payloads refused while a backlog was over its limit",
            ["backlog"],
            registry=r,
        )
        self._ingest_children: dict[str, tuple[Any, Any, Any]] = {}

    def observe_ingest(self, adapter: str, result: IngestResult, seconds: float) -> None:
        children = self._ingest_children.get(adapter)
        if children is None:
            # labels() takes a lock and builds a key on every call; once per adapter is enough.
            children = self._ingest_children[adapter] = (
                self.ingest_seconds.labels(adapter),
                self.ingest_updates.labels(adapter, "accepted"),
                self.ingest_updates.labels(adapter, "rejected"),
            )
        timer, accepted, rejected = children
        timer.observe(seconds)
        if result.accepted:
            accepted.inc(result.accepted)
        if result.rejected:
            rejected.inc(len(result.rejected))
            for rejection in result.rejected:
                self.ingest_rejections.labels(adapter, rejection.code).inc()

    def delta_sink(self) -> Callable[[Delta], None]:
        counters: dict[str, Counter] = {}

        def count(delta: Delta) -> None:
            counter = counters.get(delta.reason)
            if counter is None:
                counter = counters[delta.reason] = self.deltas.labels(delta.reason)
            counter.inc()

        return count

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4; charset=utf-8")


class RequestTimer:
    """Times each HTTP request under its route template, so ids do not explode the label set."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            services = getattr(scope["app"].state, "services", None) if "app" in scope else None
            if services is not None:
                metrics: Metrics = services.metrics
                metrics.requests.labels(scope["method"], _route(scope), str(status)).observe(
                    time.perf_counter() - started
                )


def _route(scope: Scope) -> str:
    app = scope.get("app")
    router = getattr(app, "router", None)
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "?"))
    return "unmatched"


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.services.metrics
    return metrics.render()
