"""`/healthz` (alive: the process and what it stands on), `/readyz` (ready: a load balancer may
send it traffic) and `/metrics`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from bayar.api.deps import Context
from bayar.api.schemas import Problem
from bayar.gateways.base import GatewayRejected, TransactionNotFound
from bayar.payments.states import Status
from bayar.storage import shop

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


# An order id no gateway has: asking its status shows the gateway answers (a 404 is an answer).
READY_PROBE_ORDER = "bayar-readyz-probe"
READY_TIMEOUT = 3.0  # seconds each check of /readyz may take


async def _gateway_answers(ctx: Context) -> None:
    try:
        await ctx.payments.gateway.status(READY_PROBE_ORDER)
    except TransactionNotFound:
        return
    except GatewayRejected as error:
        # Any other refusal (401: the server key is not this gateway's) is not ready either.
        raise RuntimeError(f"refused: {error.code}") from None


@router.get(
    "/readyz",
    responses={503: {"model": Problem, "description": "the database, bus or gateway is not there"}},
)
async def readyz(ctx: Context) -> JSONResponse:
    """Ready to take traffic: the database and the bus answer, and so does the gateway every
    order is confirmed with (for a fleet: the shared `bayar sandbox`, or Midtrans). 503 with
    `{"detail"}` naming what is missing otherwise."""
    checks = (
        ("database", ctx.db.ping),
        ("bus", ctx.bus.ping),
        ("gateway", lambda: _gateway_answers(ctx)),
    )

    async def check(name: str, probe: Callable[[], Awaitable[None]]) -> str | None:
        try:
            await asyncio.wait_for(probe(), timeout=READY_TIMEOUT)
        except Exception as error:
            log.warning("readiness check %s failed: %s", name, type(error).__name__)
            return f"the {name} is unreachable"
        return None

    problems = [p for p in await asyncio.gather(*(check(n, c) for n, c in checks)) if p]
    if problems:
        return JSONResponse({"detail": f"not ready: {'; '.join(problems)}"}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok", "bus": "ok", "gateway": "ok"})


@router.get("/metrics", response_class=Response)
async def metrics(ctx: Context) -> Response:
    """Prometheus text format: orders by status, notifications by outcome, gateway latency."""
    counts = await shop.orders_by_status(ctx.db)
    for status in Status:
        ctx.metrics.orders.labels(status.value).set(counts.get(status.value, 0))
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
