"""A live bayar (tests/support/apps.py's LiveApp: the app `bayar up` builds, sandbox at /sandbox,
worker running) on a free loopback port, with an admin password, shared by the admin tests; helpers to make orders and log in."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import factories
import httpx
import pytest
from apps import LiveApp, app_settings
from databases import run_async
from livesupport import screenshot_dir
from pydantic import SecretStr

from bayar.admin.queries import WIB
from bayar.storage.db import Database

# Test files import the helpers below as `bayar_admin_testkit` (tests/ is not a package).
sys.modules["bayar_admin_testkit"] = sys.modules[__name__]

PASSWORD = "s3cret-admin"
ADMIN_TOKEN = "tok"
MACHINE = "demo-1"
T = TypeVar("T")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# The admin tests read its English words (tests/test_i18n.py reads the Indonesian default).
ENGLISH = {"Accept-Language": "en"}


class Bayar(LiveApp):
    """The admin tests' bayar (LiveApp), with the orders they make through its API."""

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
        extra: dict[str, Any] = {"bank": bank} if bank else {}
        if machine_id:  # a kiosk order: the demo machine's token (kiosk orders need it)
            extra["machine_id"] = machine_id
        return factories.create_order(
            self.url,
            (product, quantity),
            payment_type=payment_type,
            machine_token=self.demo_token if machine_id else None,
            **extra,
        )

    def pay(self, order_id: str) -> None:
        factories.pay(self.url, order_id)
        self.wait_status(order_id, "paid")

    def paid_order(self, product: str = "cola", quantity: int = 1, **kwargs: Any) -> str:
        order_id = self.create_order(product, quantity, **kwargs)
        self.pay(order_id)
        return order_id


def in_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run(work()) in a thread of its own: Playwright's sync API keeps a loop running in
    the test's thread, and the server's loop is the server's."""
    return run_async(work)


@pytest.fixture(scope="session")
def bayar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bayar]:
    settings = app_settings(
        tmp_path_factory.mktemp("admin-var"),
        bayar_admin_password=SecretStr(PASSWORD),
        bayar_admin_token=SecretStr(ADMIN_TOKEN),
    )
    with Bayar(settings, migrate=True) as running:
        running.wait_seeded()
        seed_history(running)
        yield running


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
    """Orders paid on earlier days (the live API can only make orders today)."""

    async def work(db: Database) -> None:
        # Late morning WIB (the dashboard's day), whatever the hour the tests run.
        noon = datetime.now(WIB).replace(hour=12, minute=0, second=0, microsecond=0)
        for n, (days, product, quantity) in enumerate(HISTORY):
            name, price = PRICES[product]
            at = noon - timedelta(days=days, hours=n % 5)
            await factories.paid_order_at(
                db,
                f"BYR-{at.astimezone(UTC):%Y%m%d}-HIST{n:05d}",
                at,
                product_id=product,
                name=name,
                price=price,
                quantity=quantity,
                channel="shop" if n % 3 else "api",
            )

    bayar.run_db(work)


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
