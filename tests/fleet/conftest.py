"""The layout of `make fleet`, started by the very script `make fleet` runs (deploy/fleet.py):
nginx in front of two `bayar serve` processes, a `bayar worker` and a `bayar sandbox`, on a fresh
PostgreSQL database and Redis. Tests talk to it through nginx, as customers and kiosks would, and
to the sandbox directly, as a customer's e-wallet would. The supervisor starts again any process
that exits, as systemd would; its `fleet.json` says where each one is.

Throwaway databases are tests/support/databases.py's; the books are the drills' (tests/drills/books.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import factories
import httpx
import pytest
from databases import create_database, drop_database, redis_url
from livesupport import clean_env, free_port

from bayar.config import DEMO_SERVER_KEY
from bayar.storage.db import Database

ROOT = Path(__file__).parents[2]
SUPERVISOR = ROOT / "deploy" / "fleet.py"
ADMIN_TOKEN = "fleet-admin"
ADMIN_PASSWORD = "fleet-password"
START_WITHIN = 120.0  # seconds for the whole layout to come up (two busy cores)


def _drill_module(name: str) -> ModuleType:
    """tests/drills/<name>.py, loaded under a name of its own (tests/drills is not on the path
    here)."""
    spec = importlib.util.spec_from_file_location(
        f"fleet_{name}", ROOT / "tests" / "drills" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


drill_books = _drill_module("books")
Books = drill_books.Books


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )


def _require_nginx() -> str:
    """Debian's nginx: skipped without it locally, failed under CI=true (as every service
    marker of tests/conftest.py)."""
    found = _nginx()
    if found is not None:
        return found
    why = "Debian's nginx is not installed (apt-get install nginx)"
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"CI=true and nginx is required: {why}", pytrace=False)
    pytest.skip(f"{why} (this fails under CI=true)")


@pytest.fixture
def nginx() -> str:
    """The path of Debian's nginx (see `_require_nginx`)."""
    return _require_nginx()


@dataclass
class RunningFleet:
    workdir: Path
    database_url: str
    supervisor: subprocess.Popen[bytes]
    db: Database | None = None
    admin_password: ClassVar[str] = ADMIN_PASSWORD

    def state(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads((self.workdir / "fleet.json").read_text())
        return found

    @property
    def url(self) -> str:
        return str(self.state()["url"])

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1)

    @property
    def sandbox(self) -> str:
        return str(self.state()["sandbox"])

    def process(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.state()["processes"][name]
        return found

    def serving(self, upstream: str) -> str:
        """The serve process that listens at `upstream` (nginx's "127.0.0.1:port")."""
        for name, process in self.state()["processes"].items():
            if name.startswith("serve-") and process["url"].endswith(f"//{upstream}"):
                return str(name)
        raise AssertionError(f"no serve process at {upstream}")

    def log(self, name: str) -> str:
        return Path(self.process(name)["log"]).read_text(errors="replace")

    def signal(self, name: str, signum: int) -> int:
        """Send `signum` to the process; its number of starts before."""
        process = self.process(name)
        os.kill(process["pid"], signum)
        return int(process["starts"])

    async def restarted(self, name: str, starts: int, within: float = 60.0) -> None:
        """Wait until the supervisor started `name` again and it answers /readyz."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                process = self.process(name)
                if process["starts"] > starts:
                    with contextlib.suppress(httpx.HTTPError):
                        ready = await client.get(f"{process['url']}/readyz")
                        if ready.status_code == 200:
                            return
                assert time.monotonic() < deadline, f"{name} never came back:\n{self.log(name)}"
                await asyncio.sleep(0.1)

    async def balanced(self, name: str, within: float = 30.0) -> None:
        """Wait until nginx passes requests to `name` again: a process nginx saw refuse a
        connection is left out for its fail_timeout, even once it is up. A rolling restart stops
        the next process only then, or nginx would have no process to send to."""
        address = self.process(name)["url"].split("//", 1)[1]
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(f"{self.url}/readyz")
                    if answer.headers.get("X-Bayar-Upstream", "").endswith(address):
                        return
                assert time.monotonic() < deadline, f"nginx never sent a request to {name}"
                await asyncio.sleep(0.1)

    async def set_stock(self, product_id: str, stock: int) -> None:
        """Enough of a product for a load (the demo catalog's stock is a shop's, not a load's)."""
        assert self.db is not None
        await factories.set_stock(self.db, product_id, stock)

    async def control(self, path: str, method: str = "POST", **body: Any) -> httpx.Response:
        """The sandbox's control API, on loopback (what a customer's e-wallet does to it)."""
        async with httpx.AsyncClient(timeout=20) as client:
            return await client.request(
                method, f"{self.sandbox}/sandbox/_control/{path}", json=body or None
            )

    async def gateway_status(self, order_id: str) -> dict[str, Any] | None:
        """What the fleet's one gateway says of an order (None: no transaction), for the books."""
        async with httpx.AsyncClient(timeout=20) as client:
            answer = await client.get(
                f"{self.sandbox}/sandbox/midtrans/v2/{order_id}/status", auth=(DEMO_SERVER_KEY, "")
            )
        found: dict[str, Any] = answer.json()
        if answer.status_code == 404 or str(found.get("status_code")) == "404":
            return None
        return found

    async def books(self) -> Any:
        assert self.db is not None
        return await Books.open(self.db, self.gateway_status)


def _wait_up(fleet: RunningFleet) -> None:
    deadline = time.monotonic() + START_WITHIN
    log = fleet.workdir / "supervisor.log"
    while True:
        code = fleet.supervisor.poll()
        assert code is None, f"the fleet stopped ({code}):\n{log.read_text(errors='replace')}"
        if (fleet.workdir / "fleet.json").is_file():
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{fleet.url}/readyz", timeout=2).status_code == 200:
                    return
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def running_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFleet]:
    # PostgreSQL and Redis: the tests' markers (tests/conftest.py checks them first).
    _require_nginx()
    workdir = tmp_path_factory.mktemp("fleet")
    database_url = create_database("bayar_fleet", migrate=False)
    env = clean_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url(),
        BAYAR_ADMIN_TOKEN=ADMIN_TOKEN,
        BAYAR_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BAYAR_CREATE_RATE_LIMIT="100000",
        BAYAR_WORKER_INTERVAL="0.3",
        BAYAR_RECONCILE_FIRST_CHECK="3",
        BAYAR_SANDBOX_RETRY_JITTER="false",
        BAYAR_SANDBOX_NOTIFICATION_TIMEOUT="5",
        BAYAR_DISPENSE_TIMEOUT="60",
        BAYAR_SHUTDOWN_GRACE="10",
        MIDTRANS_TIMEOUT_SECONDS="10",
    )
    ports = [free_port() for _ in range(3)]
    with (workdir / "supervisor.log").open("ab") as out:
        supervisor = subprocess.Popen(
            [
                sys.executable,
                str(SUPERVISOR),
                "--port",
                str(free_port()),
                "--sandbox-port",
                str(ports[0]),
                "--serve-ports",
                f"{ports[1]},{ports[2]}",
                "--dir",
                str(workdir),
            ],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    fleet = RunningFleet(workdir, database_url, supervisor)
    try:
        _wait_up(fleet)
        yield fleet
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout=90)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait(timeout=10)
        drop_database(database_url)


@pytest.fixture
async def fleet(running_fleet: RunningFleet) -> AsyncIterator[RunningFleet]:
    """The running fleet with a database connection of the test's own loop."""
    running_fleet.db = Database(running_fleet.database_url)
    try:
        yield running_fleet
    finally:
        await running_fleet.db.close()
        running_fleet.db = None
