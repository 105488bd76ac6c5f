"""The sandbox as one object (state, clock, gateway, notifier, expiry) and its ASGI application.

`create_sandbox_app` builds the routes to mount at `/sandbox`; whoever mounts it runs
`Sandbox.start()`/`stop()` in its lifespan (Starlette does not run a mounted app's lifespan).
`standalone_app` is `bayar sandbox`: the same routes at the same paths, with their own lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router

from bayar.config import DEMO_XENDIT_CALLBACK_TOKEN, DEMO_XENDIT_SECRET_KEY, Settings
from bayar.i18n.middleware import LanguageMiddleware
from bayar.sandbox import control, midtrans, pages, recurring, snap
from bayar.sandbox.access import SandboxAccess, is_loopback
from bayar.sandbox.accounts import PayAccounts
from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.engine import Gateway
from bayar.sandbox.faults import Faults
from bayar.sandbox.http import (
    API_METHODS,
    NotifyAfterAnswer,
    SecurityHeaders,
    api_root,
    error_handlers,
)
from bayar.sandbox.lane import StatusLane
from bayar.sandbox.model import Transaction
from bayar.sandbox.notify import Notifier
from bayar.sandbox.store import SandboxStore
from bayar.sandbox.subscriptions import Subscriptions
from bayar.sandbox.xendit import api as xendit_api
from bayar.sandbox.xendit import page as xendit_page
from bayar.sandbox.xendit.engine import Xendit

log = logging.getLogger("bayar.sandbox")
MOUNT_PATH = "/sandbox"


class Sandbox:
    def __init__(
        self,
        settings: Settings,
        *,
        notification_url: str | None = None,
        xendit_callback_url: str | None = None,
        local: tuple[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        settings.refuse_live_keys()  # ConfigError: never an emulator with production settings
        self.settings = settings
        self.clock = SandboxClock(settings.bayar_sandbox_time_scale)
        self.store = SandboxStore(settings.sandbox_state_path())
        self.faults = Faults()
        self.server_key = settings.server_key()
        self.client_key = settings.client_key()
        self.gateway = Gateway(
            self.store,
            self.clock,
            server_key=self.server_key,
            client_key=self.client_key,
            merchant_id=settings.bayar_sandbox_merchant_id,
            on_change=self._changed,
        )
        self._default_notification_url = settings.bayar_sandbox_notification_url or notification_url
        self._default_xendit_url = settings.bayar_sandbox_xendit_callback_url or xendit_callback_url
        # Whatever BAYAR_SANDBOX says (a fleet's `bayar sandbox`), the emulator takes the configured
        # development key and token, else the demo ones; refuse_live_keys() refused a live key.
        xendit_key = settings.xendit_secret_key
        xendit_token = settings.xendit_callback_token
        self.xendit_callback_token = (
            xendit_token.get_secret_value() if xendit_token else ""
        ) or DEMO_XENDIT_CALLBACK_TOKEN
        self.notifier = Notifier(
            self.store,
            self.clock,
            self.faults,
            default_url=self.notification_url,
            xendit_token=lambda: self.xendit_callback_token,
            timeout=settings.bayar_sandbox_notification_timeout,
            jitter=settings.bayar_sandbox_retry_jitter,
            local=local,
        )
        self._expiry_wake = asyncio.Event()
        self._expiry_task: asyncio.Task[None] | None = None
        self.clock.on_change(self._expiry_wake.set)
        self.accounts = PayAccounts(
            self.store,
            self.clock,
            server_key=self.server_key,
            merchant_id=settings.bayar_sandbox_merchant_id,
            notify=self.notifier.enqueue_account,
        )
        self.subscriptions = Subscriptions(
            self.store, self.clock, self.gateway, wake=self._expiry_wake.set
        )
        self.xendit = Xendit(
            self.store,
            self.clock,
            secret_key=(xendit_key.get_secret_value() if xendit_key else "")
            or DEMO_XENDIT_SECRET_KEY,
            merchant_id=settings.bayar_sandbox_merchant_id,
            notify=self._xendit_changed,
            wake=self._expiry_wake.set,
            notify_expired_invoices=lambda: (
                self.store.config.get("xendit_invoice_expired_callback") is not False
            ),
        )

    def notification_url(self) -> str | None:
        configured = self.store.config.get("notification_url")
        return str(configured) if configured else self._default_notification_url

    def xendit_callback_url(self, product: str) -> str | None:
        """The webhook URL of a Xendit product (`invoice`, `payment_request`, `refund`): its own
        if set (control API `config`), else the account's one, else the default."""
        for key in (f"xendit_{product}_callback_url", "xendit_callback_url"):
            configured = self.store.config.get(key)
            if configured:
                return str(configured)
        return self._default_xendit_url

    def _xendit_changed(
        self, product: str, object_id: str, reference: str, status: str, body: dict[str, Any]
    ) -> None:
        url = self.xendit_callback_url(product)
        self.notifier.enqueue_xendit(object_id, reference, status, url, body)
        self._expiry_wake.set()

    def _changed(self, txn: Transaction) -> None:
        self.notifier.enqueue(txn, self.gateway.notification_body(txn))
        self._expiry_wake.set()

    def reset(self) -> None:
        self.store.reset()
        self.faults.clear()
        self._expiry_wake.set()

    async def start(self) -> None:
        await self.notifier.start()
        self._expiry_task = asyncio.create_task(self._expire_loop(), name="sandbox-expiry")

    async def stop(self) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry_task
        await self.notifier.stop()
        self.store.close()

    async def _expire_loop(self) -> None:
        """Pending payments expire at their expiry time; subscriptions charge on their schedule."""
        while True:
            self._expiry_wake.clear()
            upcoming = self.run_due()
            wait = None if upcoming is None else self.clock.real_seconds_until(upcoming) + 0.01
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._expiry_wake.wait(), timeout=wait)

    def run_due(self) -> float | None:
        """Everything due by the sandbox clock happens now: payments expire, subscriptions charge,
        Xendit's invoices and QRs expire and its refunds finish. The next due time, if any."""
        upcoming: float | None = None
        for name, due_pass in (
            ("expiry", self.gateway.expire_due),
            ("subscription", self.subscriptions.run_due),
            ("xendit", self.xendit.run_due),
        ):
            try:
                due = due_pass()
            except Exception:
                log.exception("%s pass failed", name)
                continue
            if due is not None and (upcoming is None or due < upcoming):
                upcoming = due
        return upcoming

    def advance_clock(self, seconds: float) -> None:
        """Move sandbox time on; what fell due happens before this returns (a caller reading
        right after sees it), and the timer is rearmed for the new time."""
        self.clock.advance(seconds)
        self.run_due()
        self._expiry_wake.set()


def create_sandbox_app(sandbox: Sandbox, *, exposed: bool = False) -> Starlette:
    """`exposed`: the server listens beyond loopback, so the control API and the simulator pages
    need BAYAR_SANDBOX_TOKEN (see access.py)."""
    token = sandbox.settings.bayar_sandbox_token
    app = Starlette(
        routes=[
            # Midtrans' paths only, JSON on every one: no redirect to or from a trailing slash.
            Route("/midtrans", api_root, methods=API_METHODS),
            Mount(
                "/midtrans",
                app=Router(
                    recurring.api_routes() + midtrans.routes() + snap.routes(),
                    redirect_slashes=False,
                ),
            ),
            Route("/xendit", api_root, methods=API_METHODS),
            Mount(
                "/xendit",
                app=Router(xendit_api.routes() + xendit_page.routes(), redirect_slashes=False),
            ),
            Mount("/_control", routes=control.routes()),
            *recurring.page_routes(),
            *xendit_page.simulator_routes(),
            *pages.routes(),
        ],
        exception_handlers=error_handlers(),
        middleware=[
            Middleware(NotifyAfterAnswer, notifier=sandbox.notifier),
            Middleware(LanguageMiddleware, default=sandbox.settings.bayar_default_language),
            Middleware(SecurityHeaders),
            Middleware(
                SandboxAccess,
                exposed=exposed,
                token=token.get_secret_value() if token is not None else None,
            ),
        ],
    )
    app.state.sandbox = sandbox
    return app


def standalone_app(settings: Settings, *, host: str = "127.0.0.1") -> Starlette:
    """`bayar sandbox`: the emulator alone, at the same `/sandbox/...` paths as under `bayar up`,
    listening on `host`."""
    sandbox = Sandbox(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.stop()

    async def home(_: Request) -> Response:
        return RedirectResponse(f"{MOUNT_PATH}/")

    app = Starlette(
        routes=[
            Route("/", home),
            Mount(MOUNT_PATH, app=create_sandbox_app(sandbox, exposed=not is_loopback(host))),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(StatusLane, sandbox=sandbox, prefix=f"{MOUNT_PATH}/midtrans/v2/"),
            Middleware(SecurityHeaders),
        ],
    )
    app.state.sandbox = sandbox
    return app
