"""Liveness, readiness and metrics for operators."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.metrics import metrics_endpoint
from gateway.responses import json_response
from gateway.services import Services

AUDIT_BACKLOG_LIMIT = 100_000


async def health(_request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    services: Services = request.app.state.services
    checks: dict[str, dict[str, object]] = {}
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    checks["broadcast"] = {"ok": services.broadcast.connected, "backend": services.broadcast.url.split("://")[0]}
    backlog = services.audit_writer.backlog
    checks["audit"] = {
        "ok": backlog < AUDIT_BACKLOG_LIMIT,
        "backlog": backlog,
        "written": services.audit_writer.written,
    }
    sources = services.book.sources.values()
    up = sum(1 for s in sources if s.up)
    # Before any source has spoken there is nothing to be down, unless the demo feed should be there.
    expecting = bool(services.book.sources) or services.settings.demo_feed
    feeds_ok = up > 0 or not expecting
    checks["feeds"] = {"ok": feeds_ok, "sources_up": up, "sources_down": len(services.book.sources) - up}
    ok = all(check["ok"] for check in checks.values())
    return json_response({"status": "ready" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
]
