"""A live bayar (tests/support/apps.py's LiveApp: `create_app`, sandbox mounted, worker running) on a
free loopback port, for the kiosk page in a real browser. Each test gets its own server and database
under its tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import factories
import harness
import httpx
import pytest
from apps import LiveApp, app_settings
from databases import fresh_database
from sqlalchemy import update

from bayar.storage.db import Database
from bayar.storage.models import Slot

sqlite_template = harness.sqlite_template  # a migrated SQLite file, copied for each server


class KioskServer(LiveApp):
    """bayar served by uvicorn in a thread. `start()` again after `stop()` serves the same database
    on the same port (a server restart, as a kiosk sees it)."""

    def __init__(
        self,
        var_dir: Path,
        *,
        template: Path | None = None,
        dispense_timeout: float = 30.0,  # generous: a busy page confirms a drop seconds late
        **settings: Any,
    ) -> None:
        self.var_dir = var_dir
        super().__init__(
            app_settings(
                var_dir,
                bayar_dispense_timeout=dispense_timeout,
                bayar_worker_interval=0.5,
                **settings,
            ),
            migrate=True,
            template=template,
            ws_ping_interval=20.0,
        )
        self.machine_id = "demo-1"
        self.token = ""

    def start(self) -> KioskServer:
        super().start()
        self.wait_seeded()  # the demo machine is made by the app's startup
        self.token = self.demo_token
        return self

    # -- helpers for tests -----------------------------------------------------------------------

    def kiosk_url(
        self, machine_id: str | None = None, token: str | None = None, **query: Any
    ) -> str:
        machine_id = machine_id or self.machine_id
        params = {"token": self.token if token is None else token, **query}
        return f"{self.url}/kiosk/{machine_id}?" + str(httpx.QueryParams(params))

    def control(self, order_id: str, action: str) -> dict[str, Any]:
        """The sandbox's control API: pay, deny, expire or cancel a transaction."""
        return factories.pay(self.url, order_id, action)

    def scan_at_sandbox(self, qr_text: str) -> str:
        """The sandbox's QRIS simulator given a QR's text, as a phone would scan it: its page,
        which names the transaction that QR was issued for (404 when none was)."""
        response = httpx.post(f"{self.url}/sandbox/qris", data={"qr": qr_text}, timeout=10)
        response.raise_for_status()
        return response.text

    def add_machine(
        self,
        machine_id: str,
        name: str,
        location: str | None,
        slots: list[tuple[str, str, int, int]],
    ) -> str:
        return self.run_db(
            lambda db: factories.add_machine(db, machine_id, slots, name=name, location=location)
        )

    def set_stock(self, machine_id: str, slot: str, stock: int) -> None:
        async def work(db: Database) -> None:
            async with db.session() as session, session.begin():
                await session.execute(
                    update(Slot)
                    .where(Slot.machine_id == machine_id, Slot.code == slot)
                    .values(stock=stock)
                )

        self.run_db(work)


@pytest.fixture
def kiosk_server_factory(
    tmp_path: Path, sqlite_template: Path
) -> Iterator[Callable[..., KioskServer]]:
    started: list[KioskServer] = []

    def make(**options: Any) -> KioskServer:
        var = tmp_path / f"var{len(started)}"
        server = KioskServer(var, template=sqlite_template, **options)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def kiosk_server(kiosk_server_factory: Callable[..., KioskServer]) -> KioskServer:
    return kiosk_server_factory()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new empty PostgreSQL database (KioskServer migrates it); dropped after the test."""
    with fresh_database("bayar_kiosk", migrate=False) as url:
        yield url
