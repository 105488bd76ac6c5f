"""The React shop (clients/react-shop) as a customer meets it: the built app served on its own
origin, bayar (as `bayar up` runs it: sandbox, worker, demo catalog) on another, CORS between them.

The app is built once per session for the bayar URL (VITE_BAYAR_URL is read at build time), and
not at all when clients/react-shop/dist-tests already holds that build (scripts/build.sh): bayar
gets the same port every session when it is free, so a second run skips npm ci and vite build."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from livesupport import BayarApi, LiveServer, free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bayar.app import create_app
from bayar.config import Settings
from bayar.storage.migrate import upgrade

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CLIENT = Path(__file__).parents[2] / "clients" / "react-shop"
PREFERRED_BAYAR_PORT = 18470


def _port(preferred: int) -> int:
    """`preferred` if nothing listens there, else any free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


@dataclass
class ReactShop(BayarApi):
    """The shop's origin (`shop`), bayar's (`url`) and bayar's SQLite database file."""

    shop: str
    url: str
    database: Path

    @property
    def control(self) -> str:
        return f"{self.url}/sandbox/_control/midtrans"

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as db, db:
            rows = db.execute(query, args).fetchall()
        return rows

    def stock(self, product_id: str) -> int:
        stock: int = self.sql("SELECT stock FROM products WHERE id = ?", product_id)[0][0]
        return stock

    def order_ids(self) -> list[str]:
        return [row[0] for row in self.sql("SELECT id FROM orders ORDER BY created_at")]

    def sandbox(self, order_id: str, action: str) -> None:
        """What the sandbox's simulator does to a transaction: pay, expire, deny…"""
        httpx.post(f"{self.control}/{order_id}/{action}", timeout=15).raise_for_status()


@pytest.fixture(scope="session")
def bayar_port() -> int:
    return _port(PREFERRED_BAYAR_PORT)


@pytest.fixture(scope="session")
def react_dist(bayar_port: int) -> Path:
    """clients/react-shop built for the bayar of these tests (npm ci and vite build only when
    something changed)."""
    if shutil.which("npm") is None:
        message = "npm is missing: the React shop cannot be built (Debian: apt-get install npm)"
        if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    out = CLIENT / "dist-tests"  # not dist/: a `make react` being served keeps its build
    build = CLIENT / "scripts" / "build.sh"
    subprocess.run(
        ["bash", str(build), f"http://127.0.0.1:{bayar_port}", out.name], check=True, timeout=600
    )
    return out


def static_site(dist: Path) -> Starlette:
    """The built app as any static host serves it: its files, and index.html for every other
    path (the app routes /orders/… and /finish itself)."""

    async def index(_: Request) -> Response:
        return FileResponse(dist / "index.html")

    return Starlette(
        routes=[
            Mount("/assets", StaticFiles(directory=dist / "assets")),
            Route("/{path:path}", index),
        ]
    )


@pytest.fixture(scope="session")
def shop_origin(react_dist: Path) -> Iterator[str]:
    with LiveServer(static_site(react_dist)) as server:
        yield server.url


@pytest.fixture(scope="module")
def gateway_settings() -> dict[str, Any]:
    """Settings of the module's bayar beyond the defaults (a module may name another gateway)."""
    return {}


@pytest.fixture(scope="module")
def react_shop(
    tmp_path_factory: pytest.TempPathFactory,
    bayar_port: int,
    shop_origin: str,
    gateway_settings: dict[str, Any],
) -> Iterator[ReactShop]:
    var = tmp_path_factory.mktemp("react-var")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=var,
        bayar_sandbox_retry_jitter=False,
        bayar_worker_interval=0.5,
        bayar_create_rate_limit=0,
        bayar_cors_origins=shop_origin,
        **gateway_settings,
    )
    upgrade(settings.database())
    url = f"http://127.0.0.1:{bayar_port}"
    app = create_app(settings, public_url=url, run_worker=True)
    with LiveServer(app, bayar_port):
        deadline = time.monotonic() + 15
        while not httpx.get(f"{url}/api/products", timeout=5).json():  # seeded on start
            assert time.monotonic() < deadline, "the demo catalog was not seeded"
            time.sleep(0.05)
        yield ReactShop(shop=shop_origin, url=url, database=var / "bayar.sqlite3")


@pytest.fixture
def page(react_shop: ReactShop, browser: Browser, problems: list[str]) -> Iterator[Page]:
    """A fresh browser (empty cart, Indonesian) on the shop's first page, the catalog shown.
    bayar starts before the browser: Playwright's loop would refuse the migrations' asyncio.run."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.goto(react_shop.shop)
    tab.get_by_test_id("catalog").wait_for()
    yield tab
    context.close()
    assert problems == []
