"""A live bayar (tests/support/apps.py's LiveApp: create_app served by uvicorn in a thread) and kiosk clients over real WebSockets.

- `start_app(**settings)` builds and starts an app on a free loopback port: SQLite (a copy of a
  migrated template) unless `database_url` is given, in-process bus unless `redis_url` is given,
  its sandbox mounted at /sandbox and the worker running (unless `run_worker=False`); bayar's
  clock is `now` when given (a tests/support/harness.py `Clock`, to pass timeouts).
  `app` is one with the defaults.
- `LiveApp` (tests/support/apps.py): `run(coro)` runs a coroutine on the server's own event loop
  (its database, its services).
- `kiosk(live, machine_id, token)` opens `/ws/kiosk/{machine_id}`; a background reader keeps every
  frame, so a test can wait for an event and count what a connection received over its lifetime.

Test modules cannot import this file: everything is handed out through fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import databases
import harness
import httpx
import pytest
from apps import LiveApp as LiveApp  # the test files name its type from here
from apps import app_settings
from databases import fresh_database
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bayar.config import DEMO_SERVER_KEY, Settings

# Seconds any event (or a handshake) may take to reach a kiosk: a liveness limit, not a goal; the
# server shares this process's GIL with the test, and a loaded CI machine has stalled it past 5 s.
WAIT = 15.0


# -- the live application ---------------------------------------------------------------------------

# What every vending test's app runs with (a test's own settings override them).
VENDING_SETTINGS: dict[str, Any] = {
    "bayar_confirm_paid": True,
    "bayar_sandbox_state_file": ":memory:",
    "bayar_sandbox_notification_url": None,
    "bayar_sandbox_time_scale": 1.0,
    "bayar_sandbox_notification_timeout": 5.0,
    "bayar_dispense_timeout": 1.0,
    "bayar_worker_interval": 0.2,
}


sqlite_template = harness.sqlite_template  # a migrated SQLite file, copied for each app


def base_settings(var_dir: Path, **overrides: Any) -> Settings:
    return app_settings(var_dir, **{**VENDING_SETTINGS, **overrides})


StartApp = Callable[..., LiveApp]


@pytest.fixture
def start_app(tmp_path: Path, sqlite_template: Path) -> Iterator[StartApp]:
    """Start a live app: `start_app(run_worker=..., seed=..., var_dir=..., now=..., **settings)`."""
    started: list[LiveApp] = []

    def start(
        *,
        run_worker: bool = True,
        seed: bool = True,
        var_dir: Path | None = None,
        now: Callable[[], datetime] | None = None,
        **overrides: Any,
    ) -> LiveApp:
        # A SQLite file is the template's copy; a PostgreSQL database is migrated already
        # (fresh_postgres does it).
        live = LiveApp(
            base_settings(var_dir or tmp_path / f"var{len(started)}", **overrides),
            run_worker=run_worker,
            seed=seed,
            now=now,
            template=sqlite_template,
        )
        started.append(live)
        return live.start()

    yield start
    for live in reversed(started):
        live.stop()


@pytest.fixture
def app(start_app: StartApp) -> LiveApp:
    return start_app()


@pytest.fixture
async def http(app: LiveApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.url, timeout=10) as client:
        yield client


HttpFor = Callable[[LiveApp], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def http_for() -> AsyncIterator[HttpFor]:
    """`await http_for(live)`: an httpx client on another live app, closed after the test."""
    clients: list[httpx.AsyncClient] = []

    async def open_client(live: LiveApp) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=live.url, timeout=10)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.aclose()


# -- kiosk clients ----------------------------------------------------------------------------------


@dataclass
class Kiosk:
    """One kiosk connection: every frame it received, in order, kept by a background reader."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> Kiosk:
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self._arrived.set()

    async def send(self, event: str, values: dict[str, Any] | None = None) -> None:
        await self.ws.send(json.dumps({"event": event, "values": values or {}}))

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.ws.send(data)  # a binary frame

    async def expect(
        self,
        event: str,
        within: float = WAIT,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The values of the next `event` frame after the cursor (frames before it are skipped,
        but stay in `frames`); the cursor moves past it."""
        deadline = time.monotonic() + within
        while True:
            for index in range(self.cursor, len(self.frames)):
                frame = self.frames[index]
                if frame["event"] == event and (where is None or where(frame["values"])):
                    self.cursor = index + 1
                    values: dict[str, Any] = frame["values"]
                    return values
            left = deadline - time.monotonic()
            if left <= 0 or self.closed.is_set():
                seen = [f["event"] for f in self.frames[self.cursor :]]
                raise AssertionError(
                    f"no {event} within {within}s (after the cursor: {seen}; "
                    f"closed: {self.closed.is_set()}, code {self.close_code})"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=left)

    async def ask(self, event: str, values: dict[str, Any] | None = None, answer: str = "") -> Any:
        """Send a frame and wait for its answer (by default the same event name)."""
        self.cursor = len(self.frames)
        await self.send(event, values)
        return await self.expect(answer or event)

    def count(self, event: str, order_id: str | None = None) -> int:
        return sum(
            1
            for f in self.frames
            if f["event"] == event and (order_id is None or f["values"].get("order_id") == order_id)
        )

    def events(self) -> list[str]:
        return [f["event"] for f in self.frames]

    async def settle(self, seconds: float = 0.5) -> None:
        """Give stray frames (duplicates, late announcements) time to arrive."""
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, timeout=5)


ConnectKiosk = Callable[..., Awaitable[Kiosk]]


@pytest.fixture
async def kiosk() -> AsyncIterator[ConnectKiosk]:
    """`await kiosk(live, machine_id="demo-1", token=None)`: a connected Kiosk (its STATE is the
    first frame; `expect("STATE")` reads it). token=None: the demo machine's token."""
    opened: list[Kiosk] = []

    async def open_kiosk(
        live: LiveApp, machine_id: str = "demo-1", token: str | None = None
    ) -> Kiosk:
        secret = live.demo_token if token is None else token
        ws = await connect(
            f"{live.ws_base}/ws/kiosk/{machine_id}?token={secret}",
            open_timeout=WAIT,
            ping_interval=None,
        )
        client = Kiosk(ws).start()
        opened.append(client)
        return client

    yield open_kiosk
    for client in opened:
        await client.close()


# -- the sandbox and the database ----------------------------------------------------------------


class Sandbox:
    """The live app's sandbox: settle transactions, arm faults, read what it knows."""

    def __init__(self, client: httpx.AsyncClient, root: str) -> None:
        self.client = client
        self.root = root

    async def act(self, order_id: str, action: str) -> dict[str, Any]:
        response = await self.client.post(f"{self.root}/_control/midtrans/{order_id}/{action}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def fault(self, kind: str, **values: Any) -> None:
        response = await self.client.post(
            f"{self.root}/_control/faults", json={"kind": kind, **values}
        )
        response.raise_for_status()

    async def status(self, order_id: str) -> dict[str, Any]:
        """GET /v2/{order_id}/status as a merchant calls it (Basic auth with the server key)."""
        response = await self.client.get(
            f"{self.root}/midtrans/v2/{order_id}/status", auth=(DEMO_SERVER_KEY, "")
        )
        body: dict[str, Any] = response.json()
        return body

    async def refund(self, order_id: str, refund_key: str) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.root}/midtrans/v2/{order_id}/refund",
            auth=(DEMO_SERVER_KEY, ""),
            json={"refund_key": refund_key, "reason": "refunded by staff at the gateway"},
        )
        body: dict[str, Any] = response.json()
        return body

    async def notifications(self, order_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"{self.root}/_control/midtrans/{order_id}/notifications")
        response.raise_for_status()
        body: list[dict[str, Any]] = response.json()
        return body

    async def set_notification_url(self, url: str | None) -> None:
        response = await self.client.put(
            f"{self.root}/_control/config", json={"notification_url": url}
        )
        response.raise_for_status()


@pytest.fixture
def sandbox(app: LiveApp, http: httpx.AsyncClient) -> Sandbox:
    return Sandbox(http, app.sandbox)


SandboxOf = Callable[[httpx.AsyncClient, LiveApp], Sandbox]


@pytest.fixture
def sandbox_of() -> SandboxOf:
    """The Sandbox helper for another live app (tests that start their own)."""
    return lambda client, live: Sandbox(client, live.sandbox)


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = WAIT, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within}s")
        await asyncio.sleep(0.05)


WaitUntil = Callable[..., Awaitable[None]]


@pytest.fixture
def wait_until() -> WaitUntil:
    """`await wait_until(async_check, within=5, what="...")`: poll until the check is true."""
    return eventually


# -- PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A new `bayar_vending_<random>` database, migrated and empty; dropped after the test."""
    with fresh_database("bayar_vending") as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    return databases.redis_url()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides for start_app: {} (SQLite), or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    url: str = request.getfixturevalue("fresh_postgres")
    return {"database_url": url}
