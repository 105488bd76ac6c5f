"""A live bayar (`create_app`, sandbox mounted, worker running) on a free loopback port, for the kiosk
page in a real browser. Each test gets its own server and database under its tmp_path."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import uvicorn
from livesupport import BayarApi, free_port
from sqlalchemy import update
from sqlalchemy.engine import make_url

from bayar.app import create_app
from bayar.config import Settings
from bayar.storage.db import Database
from bayar.storage.migrate import upgrade
from bayar.storage.models import Slot
from bayar.vending.machines import TOKEN_FILE, create_machine

T = TypeVar("T")


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a thread of its own: Playwright's sync API runs an event loop in this one,
    and code that calls `asyncio.run` cannot run inside it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result(timeout=60)


class KioskServer(BayarApi):
    """bayar served by uvicorn in a thread. `start()` again after `stop()` serves the same database
    on the same port (a server restart, as a kiosk sees it)."""

    def __init__(self, var_dir: Path, *, dispense_timeout: float = 3.0, **settings: Any) -> None:
        self.var_dir = var_dir
        var_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bayar_var_dir=var_dir,
            bayar_sandbox_retry_jitter=False,
            bayar_dispense_timeout=dispense_timeout,
            bayar_worker_interval=0.5,
            **settings,
        )
        in_thread(upgrade, self.settings.database())  # alembic runs asyncio.run of its own
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.machine_id = "demo-1"
        self.token = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> KioskServer:
        app = create_app(self.settings, public_url=self.url, run_worker=True)
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live bayar did not start")
            time.sleep(0.01)
        token_file = self.var_dir / TOKEN_FILE
        while not token_file.is_file():  # the demo machine is made by the app's startup
            if time.monotonic() > deadline:
                raise RuntimeError("no demo kiosk token")
            time.sleep(0.05)
        self.token = token_file.read_text().strip()
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=15)
        self.server = None
        self.thread = None

    # -- helpers for tests -----------------------------------------------------------------------

    def kiosk_url(
        self, machine_id: str | None = None, token: str | None = None, **query: Any
    ) -> str:
        machine_id = machine_id or self.machine_id
        params = {"token": self.token if token is None else token, **query}
        return f"{self.url}/kiosk/{machine_id}?" + str(httpx.QueryParams(params))

    def control(self, order_id: str, action: str) -> dict[str, Any]:
        """The sandbox's control API: pay, deny, expire or cancel a transaction."""
        response = httpx.post(
            f"{self.url}/sandbox/_control/midtrans/{order_id}/{action}", timeout=10
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def scan_at_sandbox(self, qr_text: str) -> str:
        """The sandbox's QRIS simulator given a QR's text, as a phone would scan it: its page,
        which names the transaction that QR was issued for (404 when none was)."""
        response = httpx.post(f"{self.url}/sandbox/qris", data={"qr": qr_text}, timeout=10)
        response.raise_for_status()
        return response.text

    def run(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run `work(db)` on a Database of its own, in a thread of its own (Playwright's sync API
        owns this thread's event loop)."""

        async def main() -> T:
            db = Database(self.settings.database())
            try:
                return await work(db)
            finally:
                await db.close()

        return in_thread(lambda: asyncio.run(main()))

    def add_machine(
        self,
        machine_id: str,
        name: str,
        location: str | None,
        slots: list[tuple[str, str, int, int]],
    ) -> str:
        return self.run(lambda db: create_machine(db, machine_id, name, location, slots))

    def set_stock(self, machine_id: str, slot: str, stock: int) -> None:
        async def work(db: Database) -> None:
            async with db.session() as session, session.begin():
                await session.execute(
                    update(Slot)
                    .where(Slot.machine_id == machine_id, Slot.code == slot)
                    .values(stock=stock)
                )

        self.run(work)


@pytest.fixture
def kiosk_server_factory(tmp_path: Path) -> Iterator[Callable[..., KioskServer]]:
    started: list[KioskServer] = []

    def make(**options: Any) -> KioskServer:
        server = KioskServer(tmp_path / f"var{len(started)}", **options)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def kiosk_server(kiosk_server_factory: Callable[..., KioskServer]) -> KioskServer:
    return kiosk_server_factory()


async def _admin_sql(server: str, statement: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def postgres_database(postgres_server_url: str) -> Iterator[str]:
    """A new empty PostgreSQL database (KioskServer migrates it); dropped after the test."""
    name = f"bayar_kiosk_{secrets.token_hex(5)}"
    create, drop = f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    in_thread(lambda: asyncio.run(_admin_sql(postgres_server_url, create)))
    try:
        yield make_url(postgres_server_url).set(database=name).render_as_string(False)
    finally:
        in_thread(lambda: asyncio.run(_admin_sql(postgres_server_url, drop)))
