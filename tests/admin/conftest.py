"""A live bayar (the app `bayar up` builds: sandbox at /sandbox, worker running) on a free loopback
port, with an admin password, shared by the admin tests; helpers to make orders and log in."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from livesupport import BayarApi, LiveServer, free_port, screenshot_dir
from pydantic import SecretStr

from bayar.admin.queries import WIB
from bayar.app import create_app
from bayar.config import Settings
from bayar.payments.states import Status
from bayar.storage.db import Database
from bayar.storage.migrate import upgrade
from bayar.storage.models import Order, OrderEvent, OrderItem, Payment
from bayar.vending.machines import TOKEN_FILE

# Test files import the helpers below as `bayar_admin_testkit` (tests/ is not a package).
sys.modules["bayar_admin_testkit"] = sys.modules[__name__]

PASSWORD = "s3cret-admin"
ADMIN_TOKEN = "tok"
MACHINE = "demo-1"
T = TypeVar("T")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# The admin tests read its English words (tests/test_i18n.py reads the Indonesian default).
ENGLISH = {"Accept-Language": "en"}


@dataclass
class Bayar(BayarApi):
    url: str
    app: FastAPI
    settings: Settings

    def database(self) -> Database:
        return Database(self.settings.database())

    def run(self, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
        """Run `work(db)` (a coroutine function) on a database handle of our own."""

        async def go() -> T:
            db = self.database()
            try:
                return await work(db)
            finally:
                await db.close()

        return in_thread(go)

    # -- orders through the public API and the sandbox's control API --------------------------------

    def create_order(
        self,
        product: str = "cola",
        quantity: int = 1,
        *,
        machine_id: str | None = None,
        payment_type: str = "qris",
        bank: str | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "items": [{"product_id": product, "quantity": quantity}],
            "payment_type": payment_type,
        }
        if bank:
            body["bank"] = bank
        headers = {}
        if machine_id:  # a kiosk order: the demo machine's token (kiosk orders need it)
            body["machine_id"] = machine_id
            headers["X-Kiosk-Token"] = (
                (self.settings.bayar_var_dir / TOKEN_FILE).read_text().strip()
            )
        answer = httpx.post(
            f"{self.url}/api/payments/create-transaction", json=body, headers=headers, timeout=20
        )
        assert answer.status_code == 201, answer.text
        order_id: str = answer.json()["order_id"]
        return order_id

    def pay(self, order_id: str) -> None:
        answer = httpx.post(f"{self.url}/sandbox/_control/midtrans/{order_id}/pay", timeout=20)
        assert answer.status_code == 200, answer.text
        self.wait_status(order_id, "paid")

    def paid_order(self, product: str = "cola", quantity: int = 1, **kwargs: Any) -> str:
        order_id = self.create_order(product, quantity, **kwargs)
        self.pay(order_id)
        return order_id


def in_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run(work()) in a thread of its own: Playwright's sync API keeps a loop running in
    the test's thread, and the server's loop is the server's."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


@pytest.fixture(scope="session")
def bayar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bayar]:
    var = tmp_path_factory.mktemp("admin-var")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=var,
        bayar_admin_password=SecretStr(PASSWORD),
        bayar_admin_token=SecretStr(ADMIN_TOKEN),
        bayar_sandbox_retry_jitter=False,
    )
    upgrade(settings.database())
    port = free_port()
    app = create_app(settings, public_url=f"http://127.0.0.1:{port}", run_worker=True)
    with LiveServer(app, port) as server:
        running = Bayar(server.url, app, settings)
        wait_for_seed(running)
        seed_history(running)
        yield running


def wait_for_seed(bayar: Bayar) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(f"{bayar.url}/api/products").json():
            return
        time.sleep(0.05)
    raise RuntimeError("the demo catalog was not seeded")


# Paid orders of the last two weeks (days ago, product, quantity), so the dashboard has a history.
HISTORY = (
    (13, "cola", 3),
    (12, "kopi-susu", 2),
    (11, "lemon", 4),
    (10, "teh-manis", 6),
    (9, "kopi-susu", 5),
    (8, "jeruk", 3),
    (7, "cola", 7),
    (6, "lemon", 2),
    (5, "kopi-susu", 8),
    (4, "air-mineral", 9),
    (3, "jeruk", 6),
    (2, "kopi-susu", 4),
    (1, "lemon", 5),
)
PRICES = {
    "air-mineral": ("Air Mineral", 4000),
    "teh-manis": ("Teh Manis", 5000),
    "cola": ("Cola", 7000),
    "jeruk": ("Jus Jeruk", 8000),
    "lemon": ("Lemon", 10000),
    "kopi-susu": ("Kopi Susu", 12000),
}


def seed_history(bayar: Bayar) -> None:
    """Orders paid on earlier days, written as the payments service writes them (order, item,
    payment, history): the live API can only make orders today."""

    async def work(db: Database) -> None:
        # Late morning WIB (the dashboard's day), whatever the hour the tests run.
        noon = datetime.now(WIB).replace(hour=12, minute=0, second=0, microsecond=0)
        async with db.session() as session, session.begin():
            for n, (days, product, quantity) in enumerate(HISTORY):
                name, price = PRICES[product]
                at = (noon - timedelta(days=days, hours=n % 5)).astimezone(UTC)
                order_id = f"BYR-{at:%Y%m%d}-HIST{n:05d}"
                amount = price * quantity
                session.add(
                    Order(
                        id=order_id,
                        status=Status.PAID.value,
                        channel="shop" if n % 3 else "api",
                        machine_id=None,
                        gross_amount=amount,
                        currency="IDR",
                        payment_type="qris",
                        customer=None,
                        idempotency_key=None,
                        expires_at=at + timedelta(minutes=15),
                        next_check_at=None,
                        check_attempts=0,
                        version=2,
                        created_at=at,
                        updated_at=at,
                    )
                )
                await session.flush()
                session.add(
                    OrderItem(
                        order_id=order_id,
                        product_id=product,
                        name=name,
                        price=price,
                        quantity=quantity,
                    )
                )
                session.add(
                    Payment(
                        order_id=order_id,
                        gateway="midtrans",
                        transaction_id=None,
                        payment_type="qris",
                        amount=amount,
                        status="settlement",
                        instructions={},
                        expires_at=at + timedelta(minutes=15),
                        updated_at=at,
                    )
                )
                session.add_all(
                    [
                        OrderEvent(
                            order_id=order_id,
                            from_status=None,
                            to_status="pending",
                            event="created",
                            source="api",
                            at=at,
                        ),
                        OrderEvent(
                            order_id=order_id,
                            from_status="pending",
                            to_status="paid",
                            event="payment_succeeded",
                            source="webhook",
                            at=at + timedelta(minutes=1),
                        ),
                    ]
                )

    bayar.run(work)


# -- admin sessions over HTTP ------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


@contextlib.contextmanager
def admin_client(bayar: Bayar, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An httpx client logged in to the admin (cookies kept)."""
    with httpx.Client(base_url=bayar.url, timeout=20, headers=ENGLISH) as client:
        page = client.get("/admin/login")
        assert page.status_code == 200
        answer = client.post(
            "/admin/login", data={"password": password, "csrf_token": csrf_of(page.text)}
        )
        assert answer.status_code == 303, answer.text
        yield client


@pytest.fixture
def admin(bayar: Bayar) -> Iterator[httpx.Client]:
    with admin_client(bayar) as client:
        yield client


@pytest.fixture
def anonymous(bayar: Bayar) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bayar.url, timeout=20, headers=ENGLISH) as client:
        yield client


@pytest.fixture
def screenshots() -> Path:
    return screenshot_dir()
