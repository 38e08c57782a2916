"""Liveness, readiness and metrics for operators."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.metrics import metrics_endpoint
from gateway.openapi import Answer, Operation, documented
from gateway.responses import json_response
from gateway.services import Services
from schema.responses import Health, Readiness


@documented(Operation("Liveness: the process answers", scopes=None, response=Health))
async def health(_request: Request) -> Response:
    return json_response({"status": "ok"})


@documented(
    Operation(
        "Readiness: whether this process can serve, and what is degraded",
        scopes=None,
        response=Readiness,
        also=(Answer(503, "the database or the broadcast is down: take this process out of the balancer", Readiness),),
    )
)
async def ready(request: Request) -> Response:
    """503 only when this process cannot serve (database or broadcast down). A silent feed or an
    audit backlog is reported as "degraded" with 200: taking the process out of the load balancer
    would refuse the very updates that bring a feed back, and clients are better served suspended
    markets than no answer."""
    services: Services = request.app.state.services
    checks: dict[str, dict[str, object]] = {}
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    checks["broadcast"] = {
        "ok": services.broadcast.connected,
        "backend": services.broadcast.url.split("://")[0],
        "outbound": services.broadcast.outbound,
        "dropped": services.broadcast.stats.dropped,
    }
    backlog = services.audit_writer.backlog
    checks["audit"] = {
        "ok": backlog < services.settings.ingest_backlog_limit,
        "backlog": backlog,
        "written": services.audit_writer.written,
    }
    sources = services.sources.health()
    up = sum(1 for s in sources if s.up)
    # Before any source has spoken there is nothing to be down, unless the demo feed should be there.
    expecting = bool(sources) or services.settings.demo_feed
    checks["feeds"] = {"ok": up > 0 or not expecting, "sources_up": up, "sources_down": len(sources) - up}
    serving = all(checks[name]["ok"] for name in _SERVING)
    status = "unavailable" if not serving else "ready" if all(c["ok"] for c in checks.values()) else "degraded"
    return json_response({"status": status, "checks": checks}, status_code=200 if serving else 503)


_SERVING = ("database", "broadcast")

documented(Operation("Prometheus metrics", scopes=None, media_type="text/plain", tag="ops"))(metrics_endpoint)


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
]
