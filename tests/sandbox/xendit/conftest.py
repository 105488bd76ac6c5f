"""A live sandbox of its own for the Xendit emulator, its callbacks going to the shared receiver
(tests/sandbox/conftest.py) at `/xendit`, and the official SDK pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import httpx
import pytest
import xendit
from livesupport import LiveServer

from bayar.config import DEMO_XENDIT_SECRET_KEY, Settings
from bayar.sandbox.app import standalone_app

if TYPE_CHECKING:
    from tests.sandbox.conftest import Receiver

XENDIT_URLS = (
    "xendit_callback_url",
    "xendit_invoice_callback_url",
    "xendit_payment_request_callback_url",
    "xendit_refund_callback_url",
)


@pytest.fixture(scope="session")
def receiver(receiving: Callable[[], AbstractContextManager[Receiver]]) -> Iterator[Receiver]:
    """Xendit's tests get a merchant endpoint of their own: the Midtrans sandbox of the tests
    before them is not reset after its last test, and its last notifications may still come."""
    with receiving() as rec:
        yield rec


@pytest.fixture(scope="session")
def xendit_server(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path_factory.mktemp("xendit-var"),
        bayar_sandbox_xendit_callback_url=f"{receiver.url}/xendit",
        bayar_sandbox_notification_timeout=2.0,
    )
    with LiveServer(standalone_app(settings)) as server:
        yield server.url


@pytest.fixture
def root(xendit_server: str, receiver: Receiver) -> str:
    """The sandbox root (…/sandbox): empty, manual time, no faults, default callback settings."""
    url = f"{xendit_server}/sandbox"
    httpx.post(f"{url}/_control/reset").raise_for_status()
    httpx.post(f"{url}/_control/clock", json={"scale": 1}).raise_for_status()
    httpx.delete(f"{url}/_control/faults").raise_for_status()
    settings: dict[str, object] = dict.fromkeys(XENDIT_URLS)
    settings["xendit_invoice_expired_callback"] = True
    httpx.put(f"{url}/_control/config", json=settings).raise_for_status()
    receiver.reset()
    return url


@pytest.fixture
def client(root: str) -> Iterator[xendit.ApiClient]:
    """The official SDK, configured as the reference recommends (no global state)."""
    configuration = xendit.Configuration(host=f"{root}/xendit", api_key=DEMO_XENDIT_SECRET_KEY)
    with xendit.ApiClient(configuration=configuration) as api_client:
        yield api_client
