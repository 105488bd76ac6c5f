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
    script from (bayar's sandbox in sandbox mode). A separate front end reads it once at start."""
    settings = ctx.settings
    return ClientConfig(
        gateway="midtrans",
        sandbox=settings.bayar_sandbox,
        production=settings.midtrans_is_production and not settings.bayar_sandbox,
        client_key=settings.client_key(),
        snap_js_url=ctx.snap_js_url,
    )
