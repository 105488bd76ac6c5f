"""Serving an ASGI app for real (uvicorn in a thread, on loopback) in tests that need a socket:
browsers, official SDK clients, webhooks coming back. On the path by pytest's `pythonpath`."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from bayar.config import DEMO_SERVER_KEY

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
    """`with LiveServer(app) as server:` serves `app` at `server.url` until the block ends. Pass a
    port when the app must know its own URL before it starts (bayar's public URL)."""

    def __init__(self, app: ASGIApp, port: int = 0, *, start_within: float = 15.0) -> None:
        self.port = port
        self.start_within = start_within
        self.server = uvicorn.Server(
            # proxy_headers off, as `bayar serve` runs it: the app reads X-Forwarded-For itself.
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
                proxy_headers=False,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_within
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        port = self.port or self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ServeProcess:
    """`python -m bayar serve` as a process of its own (a second server of a fleet), on `port`,
    its output in `workdir/serve.log`; `env` is its whole environment."""

    def __init__(self, port: int, workdir: Path, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "serve.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bayar", "serve", "--port", str(port)],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


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
