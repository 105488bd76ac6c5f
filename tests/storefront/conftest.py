"""The whole application as `bayar up` runs it (sandbox at /sandbox, worker, demo catalog), served
by uvicorn in a thread on a free loopback port, for the storefront's HTTP and browser tests."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from livesupport import BayarApi, LiveServer, free_port

from bayar.app import create_app
from bayar.config import Settings
from bayar.storage.migrate import upgrade


@dataclass
class Shop(BayarApi):
    """The running application: its URL and its SQLite database file."""

    url: str
    settings: Settings
    database: Path

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
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=var,
        bayar_sandbox_retry_jitter=False,
        bayar_worker_interval=0.5,
        **overrides,
    )
    # In a thread of its own: alembic runs asyncio.run, which cannot run inside the event loop
    # Playwright's sync API keeps in this thread once a browser test started.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(upgrade, settings.database()).result(timeout=60)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(settings, public_url=url, run_worker=True)
    with LiveServer(app, port):
        deadline = time.monotonic() + 15
        while not httpx.get(f"{url}/api/products", timeout=5).json():  # seeded on start
            assert time.monotonic() < deadline, "the demo catalog was not seeded"
            time.sleep(0.05)
        yield Shop(url=url, settings=settings, database=var / "bayar.sqlite3")
