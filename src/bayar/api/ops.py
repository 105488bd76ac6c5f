"""`/healthz` and `/metrics`."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from bayar.api.deps import Context
from bayar.payments.states import Status
from bayar.storage import repositories as repo

router = APIRouter(tags=["operations"])
log = logging.getLogger("bayar.api")


@router.get("/healthz", responses={503: {"description": "the database or the bus is unreachable"}})
async def healthz(ctx: Context) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("database", ctx.db.ping), ("bus", ctx.bus.ping)):
        try:
            await asyncio.wait_for(probe(), timeout=3)
            checks[name] = "ok"
        except Exception as error:
            log.warning("health check %s failed: %s", name, type(error).__name__)
            checks[name] = "unreachable"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unhealthy", **checks}, status_code=200 if healthy else 503
    )


@router.get("/metrics", response_class=Response)
async def metrics(ctx: Context) -> Response:
    """Prometheus text format: orders by status, notifications by outcome, gateway latency."""
    async with ctx.db.session() as session:
        counts = await repo.count_by_status(session)
    for status in Status:
        ctx.metrics.orders.labels(status.value).set(counts.get(status.value, 0))
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
