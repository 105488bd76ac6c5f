"""`GET /api/config`: what a front end on another origin needs to take a payment, and nothing
secret (the client key is public by design: Midtrans puts it in every shop's page)."""

from __future__ import annotations

from fastapi import APIRouter

from bayar.api.deps import Context
from bayar.api.schemas import ClientConfig

router = APIRouter(prefix="/api", tags=["config"])


@router.get("/config", response_model=ClientConfig)
async def client_config(ctx: Context) -> ClientConfig:
    """The gateway that takes the money, its public client key and where the browser loads its
    script from (bayar's sandbox in sandbox mode), and which gateways are configured (a
    Xendit-only install has no client key and no snap.js). A separate front end reads it once at
    start."""
    settings = ctx.settings
    midtrans = ctx.snap_js_url is not None
    return ClientConfig(
        gateway=settings.bayar_gateway,
        gateways=[name for name in settings.gateways() if name in ctx.payments.gateway.names],
        sandbox=settings.bayar_sandbox,
        production=midtrans and settings.midtrans_is_production and not settings.bayar_sandbox,
        client_key=settings.client_key() if midtrans else None,
        snap_js_url=ctx.snap_js_url,
    )
