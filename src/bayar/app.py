"""create_app(settings): the one composition root. Its lifespan builds and closes everything."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from bayar import __version__, headers
from bayar.admin import routes as admin
from bayar.api import docs as api_docs
from bayar.api import errors as api_errors
from bayar.api.payments import NOTIFICATION_PATH, XENDIT_CALLBACK_PATH, NotificationLane
from bayar.api.routes import router as api_router
from bayar.bus.factory import make_bus
from bayar.clock import Clock, system_clock
from bayar.config import ConfigError, Settings
from bayar.context import AppContext
from bayar.gateways.base import Gateway
from bayar.gateways.midtrans.client import MidtransGateway, base_urls
from bayar.gateways.xendit.client import BASE_URL as XENDIT_BASE_URL
from bayar.gateways.xendit.client import XenditGateway
from bayar.i18n.middleware import LanguageMiddleware
from bayar.inputs import InputGuard
from bayar.kiosk import routes as kiosk
from bayar.metrics import Metrics
from bayar.payments.audit import GatewayAudit
from bayar.payments.gateways import GatewayRouter
from bayar.payments.inbox import Inbox
from bayar.payments.policy import OrderLimits, ReconcilePolicy
from bayar.payments.service import PaymentsService
from bayar.sandbox import Sandbox, create_sandbox_app
from bayar.sandbox.access import is_loopback
from bayar.storage.db import Database
from bayar.storage.seed import seed_demo_catalog
from bayar.storefront import routes as storefront
from bayar.vending.machines import ensure_demo_machine
from bayar.vending.presence import make_presence
from bayar.vending.service import VendingService
from bayar.worker.runner import Worker

log = logging.getLogger("bayar")
SANDBOX_PATH = "/sandbox"
STATIC = Path(__file__).parent / "static"
REAL_SNAP_JS = {
    False: "https://app.sandbox.midtrans.com/snap/snap.js",
    True: "https://app.midtrans.com/snap/snap.js",
}


class Endpoints(NamedTuple):
    core: str  # the Core API base (MIDTRANS_CORE_BASE_URL)
    snap: str  # the Snap API base, ending in /snap/v1 (MIDTRANS_SNAP_BASE_URL)
    snap_js: str  # the Snap script the shop's pages load


def create_app(
    settings: Settings,
    *,
    public_url: str = "http://127.0.0.1:8000",
    host: str = "127.0.0.1",
    run_worker: bool = True,
    seed: bool = True,
    embed_sandbox: bool = True,
    now: Clock | None = None,
) -> FastAPI:
    """The web application. In sandbox mode with `embed_sandbox` (`bayar up`) the emulator is
    mounted at /sandbox, bayar's gateway adapter talks to it in-process over its HTTP API, and its
    webhooks come back to this app. Without it (`bayar serve`, one of a fleet) the gateway is the
    one at MIDTRANS_CORE_BASE_URL, a `bayar sandbox` process every member of the fleet shares.
    `host` is where the server listens: beyond loopback the sandbox's hand controls need a token.
    ConfigError if the settings cannot run (no keys in real mode, live keys in sandbox mode, no
    gateway to talk to)."""
    settings.check()  # no default gateway's keys in real mode, live keys with the sandbox
    embedded = settings.bayar_sandbox and embed_sandbox
    if settings.midtrans_configured():
        gateway_endpoints(settings, embedded=embedded)  # refuses before anything is built
    base = (settings.bayar_public_url or public_url).rstrip("/")
    app = FastAPI(
        title="bayar",
        version=__version__,
        summary="Payments for QRIS kiosks and shops",
        docs_url=None,  # served by api.docs from bayar's own copy of Swagger UI
        redoc_url=None,
        # bayar's metrics are Prometheus' (/metrics). FastAPI's OpenTelemetry hooks would ask
        # OpenTelemetry for its providers on every request (2% of a webhook's CPU in py-spy).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Calls from the sandbox and the adapter to this very app skip the network.
    loopback = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    sandbox = (
        Sandbox(
            settings,
            notification_url=f"{base}{NOTIFICATION_PATH}",
            xendit_callback_url=f"{base}{XENDIT_CALLBACK_PATH}",
            local=(base, loopback),
        )
        if embedded
        else None
    )
    context = (
        build_context(settings, base_url=base, transport=loopback, now=now)
        if embedded
        else build_context(settings, now=now)
    )
    worker = (
        Worker(context.payments, context.vending, interval=settings.bayar_worker_interval)
        if run_worker
        else None
    )
    db, bus = context.db, context.bus

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        seeding = None
        if seed and not await _seed_once(db, settings):
            seeding = asyncio.create_task(_seed(db, settings))
        if sandbox is not None:
            await sandbox.start()
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if seeding is not None:
                seeding.cancel()
            if worker is not None:
                await worker.stop()
            if sandbox is not None:
                await sandbox.stop()
            await context.payments.gateway.aclose()
            await context.presence.close()
            await bus.close()
            await db.close()

    app.router.lifespan_context = lifespan
    app.state.context = context
    api_errors.install(app, browser_page=storefront.page_not_found)
    # Limits on every request before any route works on it (body size, JSON depth, NUL); the
    # admin's pages judge their own addresses and filters (a 400 page that says why).
    app.add_middleware(InputGuard, max_body=settings.bayar_max_body_bytes, own_targets=("/admin",))
    api_docs.install(app)
    origins = [o.strip() for o in settings.bayar_cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Idempotency-Key", "Authorization", "X-Kiosk-Token"],
        )
    app.include_router(api_router())
    app.include_router(storefront.router())
    admin.install(app)
    app.include_router(kiosk.router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/kiosk/static", StaticFiles(directory=kiosk.STATIC), name="kiosk-static")
    app.mount("/shop/static", StaticFiles(directory=storefront.STATIC), name="shop-static")
    app.mount("/admin/static", StaticFiles(directory=admin.STATIC), name="admin-static")
    if sandbox is not None:
        app.mount(SANDBOX_PATH, create_sandbox_app(sandbox, exposed=not is_loopback(host)))
    app.add_middleware(LanguageMiddleware, default=settings.bayar_default_language)
    # Gateways' notifications: inside the security headers, outside the rest.
    app.add_middleware(NotificationLane, context=context, max_body=settings.bayar_max_body_bytes)
    headers.install(app, settings, snap_js_url=context.snap_js_url or "")  # outermost: keep it last
    return app


async def _seed_once(db: Database, settings: Settings) -> bool:
    """The demo catalog and kiosk of a first start; False if the database is not up yet."""
    try:
        if await seed_demo_catalog(db):
            log.info("demo catalog created")
        machine_id, _token = await ensure_demo_machine(db, settings.bayar_var_dir)
    except Exception as error:
        log.warning("database not ready (%s); will retry", type(error).__name__)
        return False
    log.info("demo kiosk ready", extra={"machine_id": machine_id})
    return True


async def _seed(db: Database, settings: Settings) -> None:
    """Wait for the database: the server starts in any order with its dependencies."""
    delay = 1.0
    while not await _seed_once(db, settings):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


def gateway_endpoints(settings: Settings, *, embedded: bool, base_url: str = "") -> Endpoints:
    """Where this process reaches the gateway: the one home of that choice, so every process of a
    fleet asks the same gateway. The sandbox embedded in `bayar up` (at `base_url`); otherwise the
    configured base URLs: in sandbox mode a `bayar sandbox` process (MIDTRANS_CORE_BASE_URL is
    then required: a guess would be a gateway of its own, whose "not found" expires paid orders),
    in real mode Midtrans' own hosts unless overridden. ConfigError, one line, if there is none."""
    core = (settings.midtrans_core_base_url or "").rstrip("/")
    snap = (settings.midtrans_snap_base_url or "").rstrip("/")
    # snap.js is fetched by browsers, not by this process: its address is the one they reach
    # (a fleet's nginx), which may differ from the one this process calls the gateway at.
    snap_js = settings.midtrans_snap_js_url or ""
    if settings.bayar_sandbox and embedded:
        if core or snap:
            raise ConfigError(
                "bayar up embeds its own sandbox: unset MIDTRANS_CORE_BASE_URL and"
                " MIDTRANS_SNAP_BASE_URL, or run `bayar serve` to use the sandbox they name"
            )
        if snap_js:
            raise ConfigError(
                "bayar up serves snap.js from its own sandbox: unset MIDTRANS_SNAP_JS_URL"
            )
        core = f"{base_url}{SANDBOX_PATH}/midtrans"
        return Endpoints(core, f"{core}/snap/v1", f"{core}/snap/snap.js")
    if settings.bayar_sandbox:
        if not core:
            raise ConfigError(
                "MIDTRANS_CORE_BASE_URL is required in sandbox mode: only `bayar up` embeds a"
                " sandbox; point every process at one `bayar sandbox`"
                " (e.g. http://127.0.0.1:8001/sandbox/midtrans)"
            )
        # A `bayar sandbox` serves Snap under its Core base, as `bayar up` does.
        snap = snap or f"{core}/snap/v1"
        return Endpoints(core, snap, snap_js or f"{snap.removesuffix('/v1')}/snap.js")
    real_core, real_snap = base_urls(settings.midtrans_is_production)
    return Endpoints(
        core or real_core,
        snap or real_snap,
        snap_js or REAL_SNAP_JS[settings.midtrans_is_production],
    )


def xendit_endpoint(settings: Settings, *, embedded: bool, base_url: str = "") -> str | None:
    """Where this process reaches Xendit; None: Xendit is not configured here. The sandbox
    embedded in `bayar up`; in sandbox mode XENDIT_BASE_URL, else the `bayar sandbox` that
    MIDTRANS_CORE_BASE_URL names (it serves both); in real mode Xendit's own host, when its
    secret key is set (`Settings.xendit_configured`). ConfigError if BAYAR_GATEWAY=xendit and
    there is none."""
    configured = (settings.xendit_base_url or "").rstrip("/")
    wanted = settings.bayar_gateway == "xendit"
    if settings.bayar_sandbox and embedded:
        return f"{base_url}{SANDBOX_PATH}/xendit"
    if settings.bayar_sandbox:
        core = (settings.midtrans_core_base_url or "").rstrip("/")
        if not configured and core.endswith("/midtrans"):
            configured = f"{core.removesuffix('/midtrans')}/xendit"
        if not configured and wanted:
            raise ConfigError(
                "XENDIT_BASE_URL is required in sandbox mode with BAYAR_GATEWAY=xendit"
            )
        return configured or None
    if not settings.xendit_configured():
        return None
    return configured or XENDIT_BASE_URL


def build_context(
    settings: Settings,
    *,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    now: Clock | None = None,
) -> AppContext:
    """The services of one process. `base_url`: where the sandbox embedded in this process is
    (`bayar up`); None: the gateway configured for the fleet (`gateway_endpoints`). `transport`:
    how the gateway is reached (in-process for the embedded sandbox; None: the network).
    ConfigError if there is no gateway to talk to."""
    embedded = settings.bayar_sandbox and base_url is not None
    settings.check()
    clock = now or system_clock
    metrics = Metrics()
    db = Database(settings.database())
    bus = make_bus(settings.redis_url, prefix=settings.redis_prefix())
    audit = GatewayAudit(db, metrics, clock)
    gateways: dict[str, Gateway] = {}
    midtrans = None
    snap_js = None
    if settings.midtrans_configured():
        endpoints = gateway_endpoints(settings, embedded=embedded, base_url=base_url or "")
        snap_js = endpoints.snap_js
        midtrans = MidtransGateway(
            settings.server_key(),
            core_base_url=endpoints.core,
            snap_base_url=endpoints.snap,
            timeout=settings.midtrans_timeout_seconds,
            transport=transport,
            observer=audit,  # every gateway call timed once, by the adapter
        )
        gateways[midtrans.name] = midtrans
    xendit_url = xendit_endpoint(settings, embedded=embedded, base_url=base_url or "")
    xendit = None
    if xendit_url is not None:
        xendit = XenditGateway(
            settings.xendit_secret_key_value(),
            callback_token=settings.xendit_callback_token_value(),
            base_url=xendit_url,
            timeout=settings.xendit_timeout_seconds,
            transport=transport,
            observer=audit,
        )
        gateways[xendit.name] = xendit
    payments = PaymentsService(
        db,
        GatewayRouter(gateways, settings.bayar_gateway, db),
        bus,
        metrics=metrics,
        confirm_paid=settings.bayar_confirm_paid,
        policy=ReconcilePolicy(first_check=timedelta(seconds=settings.bayar_reconcile_first_check)),
        limits=OrderLimits(
            hold=timedelta(minutes=settings.bayar_hold_minutes),
            max_units=settings.bayar_max_units_per_order,
        ),
        now=clock,
    )

    vending = VendingService(
        db,
        payments,
        bus,
        dispense_timeout=timedelta(seconds=settings.bayar_dispense_timeout),
        offline_refund=timedelta(seconds=settings.bayar_kiosk_offline_refund),
        now=clock,
    )
    return AppContext(
        settings=settings,
        db=db,
        bus=bus,
        metrics=metrics,
        payments=payments,
        inbox=None if midtrans is None else Inbox(payments, midtrans),
        xendit_inbox=None
        if xendit is None
        else Inbox(payments, xendit, key=XenditGateway.notification_key),
        vending=vending,
        presence=make_presence(settings.redis_url, prefix=settings.redis_prefix()),
        snap_js_url=snap_js,
        clock=clock,
    )
