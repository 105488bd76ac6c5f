"""The production layout on one machine, for the drills: a sandbox process (the gateway, as Midtrans
would be), two `bayar serve` processes (A and B) and a `bayar worker`, on one fresh PostgreSQL
database and Redis.

The servers run with BAYAR_SANDBOX=false and the sandbox process as their Midtrans (its URL as
MIDTRANS_CORE_BASE_URL), as tests/kiosk's two-process test does: both confirm with one gateway, and
the gateway outlives any server a drill kills. The sandbox delivers its notifications to A until a
drill moves them (what a load balancer does when a server dies).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from databases import create_database, drop_database, redis_url, run_async
from factories import put_product
from livesupport import BayarProcess, clean_env, free_port

from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY
from bayar.storage.db import Database
from bayar.storage.seed import seed_demo_catalog

ADMIN_TOKEN = "drill-admin"  # the test fleet's admin bearer token
Process = BayarProcess  # `python -m bayar <command>`, its output in `<workdir>/<name>.log`


@dataclass
class Fleet:
    database_url: str
    sandbox: Process
    servers: dict[str, Process]
    worker: Process
    urls: dict[str, str]
    db: Database = field(init=False)

    @property
    def sandbox_url(self) -> str:
        return self.urls["sandbox"]

    def url(self, server: str) -> str:
        return self.urls[server]

    def processes(self) -> list[Process]:
        return [self.sandbox, *self.servers.values(), self.worker]

    def ensure_running(self) -> None:
        for process in self.processes():
            if not process.alive:
                process.start()

    async def connect(self) -> None:
        self.db = Database(self.database_url)

    async def disconnect(self) -> None:
        await self.db.close()

    # -- the sandbox, as a drill drives it ------------------------------------------------------

    async def control(self, path: str, method: str = "POST", **body: Any) -> httpx.Response:
        async with httpx.AsyncClient(timeout=20) as client:
            return await client.request(
                method, f"{self.sandbox_url}/sandbox/_control/{path}", json=body or None
            )

    async def deliver_to(self, server: str) -> None:
        """Point the sandbox's notifications at `server` (the load balancer's job)."""
        answer = await self.control(
            "config", "PUT", notification_url=f"{self.url(server)}/api/payments/notification"
        )
        assert answer.status_code == 200, answer.text

    async def set_product(self, product_id: str, name: str, price: int, stock: int) -> None:
        """A product of this drill alone (other drills' orders never touch it)."""
        await put_product(self.db, product_id, name, price, stock)


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await seed_demo_catalog(db)
    finally:
        await db.close()


@contextlib.contextmanager
def start_fleet(workdir: Path) -> Iterator[Fleet]:
    database_url = create_database("bayar_drill")
    fleet: Fleet | None = None
    try:
        run_async(lambda: _seed(database_url))
        ports = {name: free_port() for name in ("sandbox", "a", "b")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        sandbox = Process(
            "sandbox",
            ["sandbox", "--port", str(ports["sandbox"])],
            clean_env(
                BAYAR_VAR_DIR=str(workdir / "sandbox-var"),
                BAYAR_SANDBOX_STATE_FILE=":memory:",
                BAYAR_SANDBOX_NOTIFICATION_URL=f"{urls['a']}/api/payments/notification",
                BAYAR_SANDBOX_RETRY_JITTER="false",
                BAYAR_SANDBOX_NOTIFICATION_TIMEOUT="5",
            ),
            workdir,
            ready_url=f"{urls['sandbox']}/sandbox/_control/config",
        )

        def bayar_env(name: str, **extra: str) -> dict[str, str]:
            return clean_env(
                DATABASE_URL=database_url,
                REDIS_URL=redis_url(),
                BAYAR_SANDBOX="false",
                BAYAR_VAR_DIR=str(workdir / f"{name}-var"),
                MIDTRANS_SERVER_KEY=DEMO_SERVER_KEY,
                MIDTRANS_CLIENT_KEY=DEMO_CLIENT_KEY,
                MIDTRANS_CORE_BASE_URL=f"{urls['sandbox']}/sandbox/midtrans",
                MIDTRANS_SNAP_BASE_URL=f"{urls['sandbox']}/sandbox/midtrans/snap/v1",
                MIDTRANS_TIMEOUT_SECONDS="10",
                BAYAR_CREATE_RATE_LIMIT="100000",
                BAYAR_ADMIN_TOKEN=ADMIN_TOKEN,
                **extra,
            )

        servers = {
            name: Process(
                f"serve-{name}",
                ["serve", "--port", str(ports[name])],
                bayar_env(name, BAYAR_PUBLIC_URL=urls[name]),
                workdir,
                ready_url=f"{urls[name]}/healthz",
            )
            for name in ("a", "b")
        }
        worker = Process(
            "worker",
            ["worker"],
            bayar_env(
                "worker",
                BAYAR_WORKER_INTERVAL="0.3",
                BAYAR_RECONCILE_FIRST_CHECK="3",
            ),
            workdir,
        )
        fleet = Fleet(database_url, sandbox, servers, worker, urls)
        fleet.ensure_running()
        yield fleet
    finally:
        if fleet is not None:
            for process in reversed(fleet.processes()):
                process.stop()
        drop_database(database_url)
