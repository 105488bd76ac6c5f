"""A merchant with Xendit only: `BAYAR_SANDBOX=false`, `BAYAR_GATEWAY=xendit`, a Xendit key and
callback token, no Midtrans key at all. A real app (uvicorn on loopback) runs against the sandbox
served as an app of its own, as it would against api.xendit.co, and a shop order is paid through
the hosted invoice page and Xendit's callback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps import LiveApp, app_settings
from livesupport import LiveServer
from pydantic import SecretStr

from bayar.config import Settings
from bayar.sandbox.app import standalone_app

# The sandbox takes development keys only: a Xendit account in test mode.
SECRET_KEY = "xnd_development_XENDIT_ONLY_MERCHANT"
CALLBACK_TOKEN = "xendit-only-callback-token"
WAIT = 15.0  # seconds a callback may take to reach the app: a liveness limit


@pytest.fixture
def xendit_only(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[LiveApp, str]]:
    """(the app, the sandbox's root URL …/sandbox), the sandbox's callbacks going to the app."""
    gateway = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bayar_var_dir=tmp_path / "sandbox-var",
        bayar_sandbox_state_file=Path(":memory:"),
        bayar_sandbox_retry_jitter=False,
        xendit_secret_key=SecretStr(SECRET_KEY),
        xendit_callback_token=SecretStr(CALLBACK_TOKEN),
        midtrans_server_key=None,
        midtrans_client_key=None,
    )
    with LiveServer(standalone_app(gateway)) as sandbox:
        root = f"{sandbox.url}/sandbox"
        settings = app_settings(
            tmp_path / "var",
            bayar_sandbox=False,
            bayar_gateway="xendit",
            xendit_secret_key=SECRET_KEY,
            xendit_callback_token=CALLBACK_TOKEN,
            xendit_base_url=f"{root}/xendit",
        )
        app = LiveApp(settings, template=sqlite_template).start()
        try:
            app.wait_seeded()
            configured = httpx.put(
                f"{root}/_control/config",
                json={"xendit_callback_url": f"{app.url}/api/payments/xendit/callback"},
            )
            configured.raise_for_status()
            yield app, root
        finally:
            app.stop()


def _order(app: LiveApp, order_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{app.url}/api/orders/{order_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_shop_order_is_paid_through_the_invoice_and_the_callback(
    xendit_only: tuple[LiveApp, str],
) -> None:
    app, root = xendit_only
    created = httpx.post(
        f"{app.url}/api/payments/create-transaction",
        json={
            "items": [{"product_id": "cola", "quantity": 2}],
            "payment_type": "snap",
            "customer": {"first_name": "Sari", "email": "sari@example.com"},
            "finish_url": f"{app.url}/orders/finish",
        },
        headers={"Idempotency-Key": "xendit-only-1"},
    )
    assert created.status_code == 201, created.text
    order_id = created.json()["order_id"]
    payment = created.json()["payment"]
    assert payment["token"] is None
    invoice_url = payment["invoice_url"]
    assert invoice_url.startswith(f"{root}/xendit/web/")
    assert SECRET_KEY not in created.text

    page = httpx.get(invoice_url)
    assert page.status_code == 200
    invoice_id = invoice_url.rsplit("/", 1)[1]
    paid = httpx.post(
        f"{root}/pay/xendit/{invoice_id}", data={"channel": "QRIS"}, follow_redirects=False
    )
    assert paid.status_code == 303, paid.text
    assert paid.headers["location"].startswith(f"{app.url}/orders/")

    deadline = time.monotonic() + WAIT
    while (order := _order(app, order_id))["status"] != "paid":
        assert time.monotonic() < deadline, order
        time.sleep(0.05)
    (to_paid,) = [h for h in order["history"] if h["to_status"] == "paid"]
    assert to_paid["source"] == "webhook"  # Xendit's callback, confirmed with its API
    callbacks = httpx.get(f"{root}/_control/xendit/{invoice_id}/callbacks").json()
    assert callbacks[0]["attempts"][0]["outcome"] == "200", callbacks


def test_only_xendit_is_offered_and_nothing_of_midtrans_is_loaded(
    xendit_only: tuple[LiveApp, str],
) -> None:
    app, _root = xendit_only

    config = httpx.get(f"{app.url}/api/config").json()
    shop = httpx.get(f"{app.url}/")
    midtrans_order = httpx.post(
        f"{app.url}/api/payments/create-transaction",
        json={"items": [{"product_id": "cola", "quantity": 1}], "gateway": "midtrans"},
    )
    notification = httpx.post(
        f"{app.url}/api/payments/notification",
        json={"order_id": "BYR-1", "status_code": "200", "transaction_status": "settlement"},
    )

    assert config == {
        "gateway": "xendit",
        "gateways": ["xendit"],
        "sandbox": False,
        "production": False,
        "client_key": None,
        "snap_js_url": None,
    }
    assert shop.status_code == 200
    assert "snap.js" not in shop.text
    assert "data-client-key" not in shop.text
    assert "snap" not in shop.headers["content-security-policy"]
    assert midtrans_order.status_code == 422
    assert midtrans_order.json() == {
        "detail": "gateway midtrans is not configured here; use xendit"
    }
    assert notification.status_code == 404
    assert notification.json() == {"detail": "Midtrans is not configured here"}
    assert httpx.get(f"{app.url}/readyz").json()["gateway"] == "ok"
