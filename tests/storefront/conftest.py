"""The whole application as `bayar up` runs it (sandbox at /sandbox, worker, demo catalog), served
in-process on a free loopback port (tests/support/apps.py's LiveApp), for the storefront's HTTP and
browser tests."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps import LiveApp, app_settings


class Shop(LiveApp):
    """The running application: its URL and its SQLite database file."""

    @property
    def database(self) -> Path:
        return self.settings.bayar_var_dir / "bayar.sqlite3"

    @property
    def control(self) -> str:
        return f"{self.url}/sandbox/_control/midtrans"

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read or change the app's database directly (stock of a product, counting orders)."""
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as db, db:
            rows = db.execute(query, args).fetchall()
        return rows

    def order_count(self) -> int:
        count: int = self.sql("SELECT count(*) FROM orders")[0][0]
        return count

    def create(self, **body: Any) -> dict[str, Any]:
        """An order made through the public API, as another front end would."""
        body.setdefault("items", [{"product_id": "air-mineral", "quantity": 1}])
        answer = httpx.post(f"{self.url}/api/payments/create-transaction", json=body, timeout=15)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from _serve_shop(tmp_path_factory.mktemp("shop-var"))


@pytest.fixture(scope="session")
def xendit_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The shop with Xendit as its gateway (BAYAR_GATEWAY=xendit)."""
    yield from _serve_shop(tmp_path_factory.mktemp("xendit-shop-var"), bayar_gateway="xendit")


def _serve_shop(var: Path, **overrides: Any) -> Iterator[Shop]:
    settings = app_settings(var, bayar_worker_interval=0.5, **overrides)
    with Shop(settings, migrate=True) as running:
        running.wait_seeded()
        yield running
