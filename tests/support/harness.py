"""The whole application in-process, on SQLite or PostgreSQL, for tests of the API, worker and storage.

Loaded once by tests/api, tests/worker and tests/storage's conftest.py files (pytest shows a fixture
only below its conftest, and test files cannot import each other): they re-export `FIXTURES`.

- `database_url` is parametrized over ["sqlite", "postgres"]: a migrated SQLite file per test, or one
  fresh PostgreSQL database per session (`bayar_test_<random>`, migrated once, its tables truncated
  before each test, dropped at the end). The postgres param carries `pytest.mark.postgres`.
- `bayar` is the app built as `bayar up` builds it (sandbox mounted at /sandbox, webhooks delivered
  in-process), on a controllable clock, with its lifespan running; `start_bayar(**settings)` builds
  one with other settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import factories
import httpx
import pytest
from apps import app_settings
from databases import (
    create_database,
    drop_database,
    in_thread,
    run_async,
    terminate_connections,
    truncate,
)
from fastapi import FastAPI
from sqlalchemy import func, select

from bayar.app import create_app
from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY, Settings
from bayar.context import AppContext
from bayar.payments.verdicts import Applied
from bayar.storage.db import Database
from bayar.storage.migrate import upgrade
from bayar.storage.models import GatewayCall, Notification, Order, OrderEvent
from bayar.worker.reconcile import reconcile_once

PUBLIC_URL = "http://bayar.test"
ADMIN_TOKEN = "secret"
DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# For a drill only PostgreSQL can run (terminating its connections): the `bayar` fixtures on it alone.
ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
WAIT = 5.0  # seconds any in-process webhook may take to arrive


def sign(body: dict[str, Any], key: str = DEMO_SERVER_KEY) -> dict[str, Any]:
    """The body with the signature_key Midtrans computes: SHA512(order_id+status_code+gross+key)."""
    text = f"{body['order_id']}{body['status_code']}{body['gross_amount']}{key}"
    return {**body, "signature_key": hashlib.sha512(text.encode()).hexdigest()}


class Clock:
    """bayar's clock in a test: stands still until told to move."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


# -- databases ------------------------------------------------------------------------------------


@dataclass
class _SharedPostgres:
    """One database for the whole session, whichever conftest asks first (refcounted)."""

    url: str | None = None
    users: int = 0


_POSTGRES = _SharedPostgres()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh `bayar_test_<random>` database, migrated once; dropped at the end of the session."""
    shared = _POSTGRES
    if shared.url is None:
        shared.url = create_database("bayar_test")
    shared.users += 1
    try:
        yield shared.url
    finally:
        shared.users -= 1
        if shared.users == 0:
            drop_database(shared.url)
            shared.url = None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "bayar.sqlite3"
    in_thread(upgrade, f"sqlite:///{path.as_posix()}")  # also under a running loop
    return path


@pytest.fixture(params=DB_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file of this test, or the session's PostgreSQL one."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "var" / "bayar.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, path)
        return f"sqlite:///{path.as_posix()}"
    url: str = request.getfixturevalue("postgres_database")
    run_async(lambda: truncate(url))
    return url


@pytest.fixture
def db_kind(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """bayar's Database on the test's migrated database (no app around it)."""
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.close()


# -- the application -------------------------------------------------------------------------------


# What the in-process app runs with in tests (`make_settings`'s overrides change it).
HARNESS_SETTINGS: dict[str, Any] = {
    "bayar_admin_token": ADMIN_TOKEN,
    "bayar_confirm_paid": True,
    "bayar_reconcile_first_check": 10.0,
    "bayar_sandbox_state_file": None,
    "bayar_sandbox_notification_url": None,
    "bayar_sandbox_time_scale": 1.0,
    "bayar_cors_origins": "",
    # Tests make many orders from one address at once; tests/api/test_limits.py turns it on.
    "bayar_create_rate_limit": 0,
}


def make_settings(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    """Settings pinned down entirely: nothing from the environment can change what a test runs."""
    return app_settings(var_dir, database_url=database_url, **{**HARNESS_SETTINGS, **overrides})


@dataclass
class Bayar:
    """The running app and what tests do with it."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: Clock
    settings: Settings

    sign = staticmethod(sign)

    @property
    def context(self) -> AppContext:
        context: AppContext = self.app.state.context
        return context

    @property
    def db(self) -> Database:
        db: Database = self.context.db
        return db

    # -- the API ------------------------------------------------------------------------------

    async def create(
        self,
        *items: tuple[str, int],
        payment_type: str = "qris",
        key: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body = factories.order_body(*items, payment_type=payment_type, **extra)
        headers = {"Idempotency-Key": key} if key else {}
        return await self.client.post(
            "/api/payments/create-transaction", json=body, headers=headers
        )

    async def create_order(self, *items: tuple[str, int], **kwargs: Any) -> str:
        """A new order with its gateway transaction; its id."""
        answer = await self.create(*items, **kwargs)
        assert answer.status_code == 201, answer.text
        assert answer.json()["payment"] is not None, answer.text
        order_id: str = answer.json()["order_id"]
        return order_id

    async def order(self, order_id: str) -> dict[str, Any]:
        answer = await self.client.get(f"/api/orders/{order_id}")
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def stock(self, product_id: str) -> int:
        answer = await self.client.get("/api/products")
        assert answer.status_code == 200, answer.text
        found = [p["stock"] for p in answer.json() if p["id"] == product_id]
        assert found, f"no product {product_id} in the catalog"
        return int(found[0])

    async def notify(self, body: dict[str, Any] | bytes | str) -> httpx.Response:
        """POST a notification to the webhook as Midtrans does."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        return await self.client.post(
            "/api/payments/notification",
            content=raw,
            headers={"Content-Type": "application/json", "User-Agent": "Veritrans"},
        )

    async def admin(
        self, order_id: str, action: str, *, token: str | None = ADMIN_TOKEN, **body: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return await self.client.post(
            f"/api/orders/{order_id}/{action}", json=body or None, headers=headers
        )

    # -- the sandbox ----------------------------------------------------------------------------

    async def control(self, order_id: str, action: str, **params: str) -> dict[str, Any]:
        answer = await self.client.post(
            f"/sandbox/_control/midtrans/{order_id}/{action}", params=params
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def pay(self, order_id: str, **params: str) -> dict[str, Any]:
        return await self.control(order_id, "pay", **params)

    async def pay_by_card(self, snap_token: str, card_number: str) -> dict[str, Any]:
        """What a customer does on the Snap page: tokenize a test card, then pay with it."""
        tokenized = await self.client.get(
            "/sandbox/midtrans/v2/token",
            params={
                "client_key": DEMO_CLIENT_KEY,
                "card_number": card_number,
                "card_exp_month": "12",
                "card_exp_year": str(datetime.now(UTC).year + 2),
                "card_cvv": "123",
            },
        )
        assert tokenized.status_code == 200, tokenized.text
        charged = await self.client.post(
            f"/sandbox/midtrans/snap/v2/vtweb/{snap_token}/charge",
            json={"payment_type": "credit_card", "token_id": tokenized.json()["token_id"]},
        )
        assert charged.status_code == 200, charged.text
        result: dict[str, Any] = charged.json()
        return result

    async def fault(self, kind: str, **spec: Any) -> None:
        answer = await self.client.post("/sandbox/_control/faults", json={"kind": kind, **spec})
        assert answer.status_code == 200, answer.text

    async def gateway_status(self, order_id: str) -> httpx.Response:
        """GET status at the sandbox, as any Midtrans client asks it (Basic auth, server key)."""
        return await self.client.get(
            f"/sandbox/midtrans/v2/{order_id}/status", auth=(DEMO_SERVER_KEY, "")
        )

    async def deliveries(self, order_id: str) -> list[dict[str, Any]]:
        """The sandbox's delivery log of the order's notifications, oldest first."""
        answer = await self.client.get(f"/sandbox/_control/midtrans/{order_id}/notifications")
        assert answer.status_code == 200, answer.text
        result: list[dict[str, Any]] = answer.json()
        return result

    async def delivered(
        self, order_id: str, count: int = 1, within: float = WAIT
    ) -> list[dict[str, Any]]:
        """Wait until at least `count` notifications of the order exist and each was attempted
        (or dropped): the webhook has answered them all."""
        deadline = time.monotonic() + within
        while True:
            log = await self.deliveries(order_id)
            if len(log) >= count and all(d["attempts"] for d in log):
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"notifications of {order_id} not delivered: {log}")
            await asyncio.sleep(0.01)

    async def wait_status(self, order_id: str, status: str, within: float = WAIT) -> dict[str, Any]:
        """Poll GET /api/orders/{id} until the order has `status`."""
        deadline = time.monotonic() + within
        while True:
            order = await self.order(order_id)
            if order["status"] == status:
                return order
            if time.monotonic() > deadline:
                raise AssertionError(f"{order_id} is {order['status']}, never {status}")
            await asyncio.sleep(0.01)

    # -- the worker ---------------------------------------------------------------------------

    async def reconcile(self) -> list[Applied]:
        return await reconcile_once(self.context.payments)

    # -- the database ---------------------------------------------------------------------------

    async def set_stock(self, product_id: str, stock: int, **values: Any) -> None:
        await factories.set_stock(self.db, product_id, stock, **values)

    async def inbox(self, order_id: str) -> list[Notification]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(Notification)
                .where(Notification.order_id == order_id)
                .order_by(Notification.id)
            )
            return list(rows.scalars().all())

    async def history(self, order_id: str) -> list[OrderEvent]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
            )
            return list(rows.scalars().all())

    async def transitions(self, order_id: str) -> list[tuple[str | None, str]]:
        """The order's real transitions (ignored events left out), as (from, to)."""
        return [(e.from_status, e.to_status) for e in await self.history(order_id) if not e.ignored]

    async def gateway_calls(self, order_id: str, operation: str | None = None) -> list[GatewayCall]:
        async with self.db.session() as session:
            query = select(GatewayCall).where(GatewayCall.order_id == order_id)
            if operation is not None:
                query = query.where(GatewayCall.operation == operation)
            rows = await session.execute(query.order_by(GatewayCall.id))
            return list(rows.scalars().all())

    async def count_orders(self) -> int:
        async with self.db.session() as session:
            return int(
                (await session.execute(select(func.count()).select_from(Order))).scalar_one()
            )

    async def drop_database_connections(self) -> int:
        """Terminate the app's PostgreSQL connections, as a database restart does."""
        return await terminate_connections(self.db.engine.url.render_as_string(False))

    async def db_order(self, order_id: str) -> Order:
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
        assert order is not None
        return order


@contextlib.asynccontextmanager
async def running_bayar(settings: Settings, clock: Clock) -> AsyncIterator[Bayar]:
    before = asyncio.all_tasks()
    app = create_app(settings, public_url=PUBLIC_URL, run_worker=False, now=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield Bayar(app=app, client=client, clock=clock, settings=settings)
    await _no_tasks_left(before)


async def _no_tasks_left(before: set[asyncio.Task[Any]]) -> None:
    """Whatever the app started must end with its lifespan. A task still running is cancelled;
    one that will not end is reported here, rather than hanging the event loop's teardown."""
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    for task in left:
        task.cancel()
    if not left:
        return
    _done, stuck = await asyncio.wait(left, timeout=5)
    assert not stuck, f"tasks left running after the app stopped: {stuck}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


# `start_bayar(**settings)`: the app with other settings, to run in `async with`.
StartBayar = Callable[..., contextlib.AbstractAsyncContextManager[Bayar]]


@pytest.fixture
def start_bayar(database_url: str, tmp_path: Path, clock: Clock) -> StartBayar:
    """`async with start_bayar(midtrans_timeout_seconds=0.5) as bayar:` the app with other settings."""

    def start(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Bayar]:
        return running_bayar(make_settings(database_url, tmp_path / "var", **overrides), clock)

    return start


@pytest.fixture
async def bayar(start_bayar: StartBayar) -> AsyncIterator[Bayar]:
    """The app with the default test settings, its lifespan running, the demo catalog seeded."""
    async with start_bayar() as running:
        yield running


FIXTURES = {
    "postgres_database": postgres_database,
    "sqlite_template": sqlite_template,
    "database_url": database_url,
    "db_kind": db_kind,
    "database": database,
    "clock": clock,
    "start_bayar": start_bayar,
    "bayar": bayar,
}
