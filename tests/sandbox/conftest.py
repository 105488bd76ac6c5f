"""A live sandbox (`bayar sandbox`'s app on a free port) and a webhook receiver, both on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from livesupport import LiveServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY, Settings
from bayar.sandbox.app import standalone_app
from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.faults import Faults
from bayar.sandbox.notify import Notifier
from bayar.sandbox.store import SandboxStore

SERVER_KEY = DEMO_SERVER_KEY
CLIENT_KEY = DEMO_CLIENT_KEY


@dataclass
class Received:
    path: str
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """A merchant's notification endpoint: records every POST, answers from a script of codes."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.script.clear()

    def answer(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else 200

    def wait_for(self, count: int, timeout: float = 5.0, path: str | None = None) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.received if path is None or r.path == path]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.01)


def _receiver_app(receiver: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        with receiver.lock:
            receiver.received.append(
                Received(request.url.path, body, dict(request.headers), time.monotonic())
            )
        code = receiver.answer()
        if code in (301, 302, 303, 307, 308):
            return Response(status_code=code, headers={"location": "/hook"})
        return PlainTextResponse("ok" if code < 300 else "no", status_code=code)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST", "GET"])])


@contextmanager
def _serving() -> Iterator[Receiver]:
    rec = Receiver()
    with LiveServer(_receiver_app(rec)) as server:
        rec.url = server.url
        yield rec


@pytest.fixture(scope="session")
def receiving() -> Callable[[], AbstractContextManager[Receiver]]:
    """Serves a merchant endpoint of one's own, for as long as the `with` lasts."""
    return _serving


@pytest.fixture(scope="session")
def receiver(receiving: Callable[[], AbstractContextManager[Receiver]]) -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture(scope="session")
def sandbox_server(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path_factory.mktemp("var"),
        bayar_sandbox_notification_url=f"{receiver.url}/hook",
        bayar_sandbox_retry_jitter=False,
        bayar_sandbox_notification_timeout=2.0,
        # These tests read the pages' English words: BAYAR_DEFAULT_LANGUAGE=en, end to end
        # (tests/storefront/test_language.py reads the Indonesian default).
        bayar_default_language="en",
    )
    with LiveServer(standalone_app(settings)) as server:
        yield server.url


@pytest.fixture
def sandbox_url(sandbox_server: str, receiver: Receiver) -> str:
    """The sandbox root (…/sandbox), reset to empty, manual time, no faults, default webhook URL."""
    root = f"{sandbox_server}/sandbox"
    httpx.post(f"{root}/_control/reset").raise_for_status()
    httpx.post(f"{root}/_control/clock", json={"scale": 1}).raise_for_status()
    httpx.put(f"{root}/_control/config", json={"notification_url": None}).raise_for_status()
    receiver.reset()
    return root


@pytest.fixture
def api_base(sandbox_url: str) -> str:
    return f"{sandbox_url}/midtrans"


# `merchant_notifier(merchant, store=None, timeout=30.0)`: a Notifier that delivers to `merchant`
# (an httpx.MockTransport handler) from `store`, else a new in-memory store closed after the test.
MerchantNotifier = Callable[..., Notifier]


@pytest.fixture
def merchant_notifier() -> Iterator[MerchantNotifier]:
    made: list[SandboxStore] = []

    def make(
        merchant: Callable[[httpx.Request], Any],
        *,
        store: SandboxStore | None = None,
        timeout: float = 30.0,
    ) -> Notifier:
        if store is None:
            store = SandboxStore(":memory:")
            made.append(store)
        return Notifier(
            store,
            SandboxClock(),
            Faults(),
            default_url=lambda: None,
            timeout=timeout,
            jitter=False,
            transport=httpx.MockTransport(merchant),
            xendit_token=lambda: "tok",
        )

    yield make
    for store in made:
        store.close()
