"""Serving for real, on loopback, in tests that need a socket (browsers, official SDK clients,
webhooks coming back): any ASGI app in-process (`LiveServer`: uvicorn on a loop of its own in a
thread) and bayar as a process of its own (`BayarProcess`, `ServeProcess`). On the path by pytest's
`pythonpath`; bayar's app served in-process is tests/support/apps.py's `LiveApp`."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import uvicorn
from starlette.types import ASGIApp

from bayar.config import DEMO_SERVER_KEY

T = TypeVar("T")
START_WITHIN = 40.0  # seconds a bayar process may take to answer (two busy cores)
README_PICTURES = Path(__file__).parents[2] / "docs" / "screenshots"
_scratch: list[Path] = []


def screenshot_dir() -> Path:
    """Where browser tests put their pictures: the README's folder under `make screenshots`
    (BAYAR_SCREENSHOTS=1), else a scratch folder removed at exit, so a test run leaves the tree
    as it found it."""
    if os.environ.get("BAYAR_SCREENSHOTS") == "1":
        README_PICTURES.mkdir(parents=True, exist_ok=True)
        return README_PICTURES
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="bayar-screenshots-")))
        atexit.register(shutil.rmtree, _scratch[0], ignore_errors=True)
    return _scratch[0]


def free_port() -> int:
    """A port nothing listens on right now (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """An ASGI app served by uvicorn on loopback, on an event loop of its own in a daemon thread.
    `with LiveServer(app) as server:` serves it at `server.url` until the block ends; `start()`
    again after `stop()` serves it again on the same port. Pass a port when the app must know its
    own URL before it starts (bayar's public URL). `run(coro)` runs a coroutine on the server's
    loop (where the app's database engine and services live)."""

    def __init__(
        self,
        app: ASGIApp | None = None,
        port: int = 0,
        *,
        start_within: float = 15.0,
        ws_ping_interval: float | None = 20.0,
    ) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.start_within = start_within
        self.ws_ping_interval = ws_ping_interval
        self.server: uvicorn.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def build(self) -> ASGIApp:
        """The app to serve at each start (a subclass builds a new one each time)."""
        assert self.app is not None, "LiveServer needs an app"
        return self.app

    def start(self) -> LiveServer:
        app = self.build()
        # proxy_headers off, as `bayar serve` runs it: the app reads X-Forwarded-For itself.
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="on",
                loop="asyncio",
                proxy_headers=False,
                ws_ping_interval=self.ws_ping_interval,
            )
        )
        loop = asyncio.new_event_loop()
        self.server, self.loop = server, loop
        self.thread = threading.Thread(
            target=self._serve, args=(server, loop), daemon=True, name=f"live-{self.port}"
        )
        self.thread.start()
        deadline = time.monotonic() + self.start_within
        while not server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.01)
        if not self.port:
            self.port = int(server.servers[0].sockets[0].getsockname()[1])
            self.url = f"http://127.0.0.1:{self.port}"
        return self

    @staticmethod
    def _serve(server: uvicorn.Server, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=15)
        self.server = self.thread = self.loop = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        assert self.loop is not None, "the server is not running"
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the server's loop, from a test's own loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run `coro` on the server's loop and wait for it, from a synchronous test (a browser
        test too: nothing runs on the test's thread)."""
        return self.submit(coro).result(timeout=timeout)


@dataclass
class BayarProcess:
    """`python -m bayar <args>` as a process of its own, its output in `<workdir>/<name>.log`, its
    environment `env` (see `clean_env`). `start()` waits until `ready_url` answers 200."""

    name: str
    args: list[str]
    env: dict[str, str]
    workdir: Path
    ready_url: str | None = None
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> BayarProcess:
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
            return self
        deadline = time.monotonic() + START_WITHIN
        while True:
            assert self.popen.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return self
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
        self.popen.kill()
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


class ServeProcess(BayarProcess):
    """`python -m bayar serve` on `port` (a second server of a fleet), its output in
    `workdir/serve.log`; `env` is its whole environment. Started when made."""

    def __init__(self, port: int, workdir: Path, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        super().__init__(
            "serve", ["serve", "--port", str(port)], env, workdir, ready_url=f"{self.url}/healthz"
        )
        self.start()


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without the caller's bayar and Midtrans settings, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("BAYAR_", "MIDTRANS_"))
        and k.upper() not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(settings)
    return env


class BayarApi:
    """What a test asks a running bayar over HTTP (a subclass sets `url`): its order API, and its
    sandbox's Midtrans-compatible status API."""

    url: str

    def order(self, order_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/orders/{order_id}", timeout=20)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def wait_status(self, order_id: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
        """The order once it has `status`; fails if it has not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.order(order_id)
            if found["status"] == status or time.monotonic() > deadline:
                assert found["status"] == status, found
                return found
            time.sleep(0.05)

    def gateway_status(self, order_id: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.url}/sandbox/midtrans/v2/{order_id}/status",
            auth=(DEMO_SERVER_KEY, ""),
            timeout=20,
        )
        found: dict[str, Any] = answer.json()
        return found
