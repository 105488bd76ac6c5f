"""bayar as tests run it: its settings, pinned down (`app_settings`), and the app in-process, served
on a loopback port (`LiveApp`). As a process of its own it is tests/support/livesupport.py's
`BayarProcess` (`ServeProcess` for `bayar serve`).

The in-process app without a socket (httpx's ASGI transport, on the test's own loop) is
tests/support/harness.py's `running_bayar`, built from the same `app_settings`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from databases import in_thread
from fastapi import FastAPI
from livesupport import BayarApi, LiveServer, free_port
from starlette.types import ASGIApp

from bayar.app import create_app
from bayar.config import Settings
from bayar.context import AppContext
from bayar.storage.db import Database
from bayar.storage.migrate import upgrade
from bayar.vending.machines import TOKEN_FILE

T = TypeVar("T")


def app_settings(var_dir: Path, **overrides: Any) -> Settings:
    """Settings of a test's bayar: what the environment could change is pinned (its database is
    the SQLite file in `var_dir`, no Redis, the sandbox in place of Midtrans, no public URL), the
    rest is bayar's defaults; `overrides` (settings' field names) change any of it."""
    values: dict[str, Any] = {
        "bayar_var_dir": var_dir,
        "database_url": None,
        "redis_url": None,
        "bayar_sandbox": True,
        "midtrans_server_key": None,
        "midtrans_client_key": None,
        "bayar_public_url": None,
        "bayar_sandbox_retry_jitter": False,
        "bayar_gateway": "midtrans",
        "xendit_secret_key": None,
        "xendit_callback_token": None,
        "xendit_base_url": None,
        "bayar_sandbox_xendit_callback_url": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class LiveApp(LiveServer, BayarApi):
    """`create_app(settings)` served by uvicorn on a loopback port chosen now (the app knows its
    public URL), on a loop of its own in a daemon thread. `start()` builds a new app each time: a
    `stop()` then `start()` is a server restart on the same port and database.

    `migrate=True` runs the migrations first (a fresh PostgreSQL database, or the SQLite file in
    the var directory); with a `template` (a migrated SQLite file) a SQLite file not made yet is
    that template's copy instead, which is quicker than migrating.
    `run_worker`, `seed` and `now` (bayar's clock, e.g. a harness `Clock`) go to `create_app`."""

    app: FastAPI  # built by each start()

    def __init__(
        self,
        settings: Settings,
        *,
        run_worker: bool = True,
        seed: bool = True,
        now: Callable[[], datetime] | None = None,
        migrate: bool = False,
        template: Path | None = None,
        ws_ping_interval: float | None = None,
    ) -> None:
        super().__init__(port=free_port(), ws_ping_interval=ws_ping_interval)
        self.settings = settings
        self.run_worker = run_worker
        self.seed = seed
        self.now = now
        settings.bayar_var_dir.mkdir(parents=True, exist_ok=True)
        sqlite_file = settings.bayar_var_dir / "bayar.sqlite3"
        if settings.database_url is None and template is not None:
            if not sqlite_file.exists():
                shutil.copyfile(template, sqlite_file)
        elif migrate:  # Alembic runs asyncio.run of its own: not on a thread with a running loop
            in_thread(upgrade, settings.database())

    def build(self) -> ASGIApp:
        self.app = create_app(
            self.settings,
            public_url=self.url,
            run_worker=self.run_worker,
            seed=self.seed,
            now=self.now,
        )
        return self.app

    def start(self) -> LiveApp:
        super().start()
        return self

    # -- what tests use ---------------------------------------------------------------------------

    @property
    def context(self) -> AppContext:
        context: AppContext = self.app.state.context
        return context

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def sandbox(self) -> str:
        return f"{self.url}/sandbox"

    @property
    def demo_token(self) -> str:
        """The demo machine's token (the app writes it at its first start, when it seeds)."""
        return (self.settings.bayar_var_dir / TOKEN_FILE).read_text().strip()

    def run_db(self, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
        """`work(db)` on the app's own database handle, on the server's loop, from a
        synchronous test."""
        return self.run_sync(work(self.context.db))

    def wait_seeded(self, within: float = 15.0) -> None:
        """Wait until the demo catalog is on sale and the demo machine's token is written (the
        app's startup does both). One slow answer (busy cores) is no failure: each request may
        take the whole `within`."""
        deadline = time.monotonic() + within
        token = self.settings.bayar_var_dir / TOKEN_FILE
        products = f"{self.url}/api/products"
        while not (token.is_file() and httpx.get(products, timeout=within).json()):
            if time.monotonic() > deadline:
                raise RuntimeError("the demo catalog was not seeded")
            time.sleep(0.05)
