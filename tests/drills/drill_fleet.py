"""The production layout on one machine, for the drills: a sandbox process (the gateway, as Midtrans
would be), two `bayar serve` processes (A and B) and a `bayar worker`, on one fresh PostgreSQL
database and Redis.

The servers run with BAYAR_SANDBOX=false and the sandbox process as their Midtrans (its URL as
MIDTRANS_CORE_BASE_URL), as tests/kiosk's two-process test does: both confirm with one gateway, and
the gateway outlives any server a drill kills. The sandbox delivers its notifications to A until a
drill moves them (what a load balancer does when a server dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from livesupport import clean_env, free_port
from sqlalchemy import update
from sqlalchemy.engine import make_url

from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY
from bayar.storage.db import Database
from bayar.storage.migrate import upgrade
from bayar.storage.models import Product
from bayar.storage.seed import seed_demo_catalog

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN_TOKEN = "drill-admin"  # the test fleet's admin bearer token
START_WITHIN = 40.0  # seconds a process may take to answer (two busy cores)


def postgres_admin_url() -> str:
    return os.environ.get("BAYAR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def redis_url() -> str:
    return os.environ.get("BAYAR_TEST_REDIS_URL") or DEFAULT_REDIS_URL


@dataclass
class Process:
    """`python -m bayar <command>` with its output in `<workdir>/<name>.log`."""

    name: str
    args: list[str]
    env: dict[str, str]
    workdir: Path
    ready_url: str | None = None  # polled until it answers 200
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bayar", *self.args],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if self.ready_url is None:
            return
        deadline = time.monotonic() + START_WITHIN
        while True:
            assert self.popen.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no cleanup, connections cut mid-request."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=15)

    def stop(self) -> None:
        if not self.alive:
            return
        assert self.popen is not None
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=15)


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
        async with self.db.session() as session, session.begin():
            if await session.get(Product, product_id) is None:
                session.add(
                    Product(id=product_id, name=name, price=price, stock=stock, active=True)
                )
            else:
                await session.execute(
                    update(Product).where(Product.id == product_id).values(stock=stock)
                )


async def _create_database() -> str:
    name = f"bayar_drill_{secrets.token_hex(5)}"
    connection = await asyncpg.connect(postgres_admin_url())
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(postgres_admin_url()).set(database=name).render_as_string(False)


async def _drop_database(url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(postgres_admin_url())
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await seed_demo_catalog(db)
    finally:
        await db.close()


@contextlib.contextmanager
def start_fleet(workdir: Path) -> Iterator[Fleet]:
    database_url = asyncio.run(_create_database())
    fleet: Fleet | None = None
    try:
        upgrade(database_url)
        asyncio.run(_seed(database_url))
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
        asyncio.run(_drop_database(database_url))
