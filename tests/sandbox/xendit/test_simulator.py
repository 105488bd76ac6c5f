"""The simulator's Xendit views and who may use them: the list beside Midtrans', its buttons, the
detail page, the invoice page's Pay form; hand controls closed beyond loopback, the emulated
gateway and its invoice page open; a live key never starts the emulator. In-process (ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from words import words

from bayar.config import (
    DEMO_XENDIT_CALLBACK_TOKEN,
    DEMO_XENDIT_SECRET_KEY,
    ConfigError,
    Settings,
)
from bayar.sandbox.app import Sandbox, standalone_app

KEY = (DEMO_XENDIT_SECRET_KEY, "")
Open = Callable[..., AsyncIterator[httpx.AsyncClient]]


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path / "var",
        bayar_sandbox_state_file=Path(":memory:"),
        **values,
    )


@pytest.fixture
def open_sandbox(tmp_path: Path) -> Open:
    async def start(host: str = "127.0.0.1", **values: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = standalone_app(_settings(tmp_path, **values), host=host)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
            ) as client,
        ):
            yield client

    return start


async def _invoice(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {"external_id": "sim-1", "amount": 12000, **extra}
    answer = await client.post("/sandbox/xendit/v2/invoices", json=body, auth=KEY)
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def _qr(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {
        "reference_id": "kiosk-1",
        "amount": 7000,
        "currency": "IDR",
        "payment_method": {"type": "QR_CODE", "reusability": "ONE_TIME_USE"},
    }
    answer = await client.post("/sandbox/xendit/payment_requests", json=body, auth=KEY)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def test_the_list_shows_xendit_beside_midtrans_and_its_buttons_act(
    open_sandbox: Open,
) -> None:
    async for client in open_sandbox():
        invoice, qr = await _invoice(client), await _qr(client)
        page = (await client.get("/sandbox/")).text
        assert f'data-xendit-id="{invoice["id"]}"' in page
        assert f'data-xendit-id="{qr["id"]}"' in page
        assert "Rp 12.000" in page
        assert f"/sandbox/xendit/web/{invoice['id']}" in page

        paid = await client.post(f"/sandbox/actions/xendit/{qr['id']}/fail", data={"next": "/"})
        assert paid.status_code == 303
        say = words("id")  # the simulator's first language: its message is Indonesian
        failed = say(
            "Failed: %(reference)s is now %(status)s.", reference="kiosk-1", status="FAILED"
        )
        assert paid.headers["location"] == f"/sandbox/?{urlencode({'msg': failed, 'kind': 'ok'})}"
        expired = await client.post(
            f"/sandbox/actions/xendit/{invoice['id']}/expire",
            data={"next": "/"},
            headers={"Accept-Language": "en"},
        )
        assert "is+now+EXPIRED" in expired.headers["location"]
        again = await client.post(
            f"/sandbox/actions/xendit/{invoice['id']}/pay", data={"next": "/"}
        )
        assert "kind=error" in again.headers["location"]

        detail = await client.get(f"/sandbox/transactions/xendit/{invoice['id']}")
        assert detail.status_code == 200
        assert "EXPIRED" in detail.text
        assert DEMO_XENDIT_SECRET_KEY not in detail.text
        missing = await client.get("/sandbox/transactions/xendit/nope")
        assert missing.status_code == 404


async def test_the_invoice_pages_pay_form_works_without_javascript(open_sandbox: Open) -> None:
    async for client in open_sandbox():
        shop = "https://shop.example/orders/7"
        invoice = await _invoice(client, success_redirect_url=f"{shop}?paid=1")
        page = await client.get(f"/sandbox/xendit/web/{invoice['id']}")
        assert page.status_code == 200
        assert "form-action 'self' http: https:" in page.headers["content-security-policy"]
        assert "<script src=" in page.text
        assert "<script>" not in page.text  # no inline script
        paid = await client.post(f"/sandbox/pay/xendit/{invoice['id']}", data={"channel": "DANA"})
        assert (paid.status_code, paid.headers["location"]) == (303, f"{shop}?paid=1")
        status = (await client.get(f"/sandbox/xendit/web/{invoice['id']}/status")).json()
        assert status == {"status": "PAID", "redirect": f"{shop}?paid=1"}
        again = await client.post(f"/sandbox/pay/xendit/{invoice['id']}", data={"channel": "DANA"})
        assert "error=" in again.headers["location"]
        assert (await client.get("/sandbox/xendit/web/nope")).status_code == 404


async def test_beyond_loopback_paying_by_hand_needs_the_token(open_sandbox: Open) -> None:
    async for client in open_sandbox("0.0.0.0"):  # noqa: S104
        invoice = await _invoice(client)  # the emulated API authenticates by its key
        page = await client.get(f"/sandbox/xendit/web/{invoice['id']}")
        assert page.status_code == 200  # a payer's browser reaches the invoice page
        for path in (
            f"/sandbox/pay/xendit/{invoice['id']}",
            f"/sandbox/actions/xendit/{invoice['id']}/pay",
            f"/sandbox/_control/xendit/{invoice['id']}/pay",
        ):
            answer = await client.post(path)
            assert answer.status_code == 403, path
        fetched = await client.get(f"/sandbox/xendit/v2/invoices/{invoice['id']}", auth=KEY)
        assert fetched.json()["status"] == "PENDING"


def test_a_live_xendit_key_never_starts_the_emulator(tmp_path: Path) -> None:
    live = "xnd_production_LIVE-KEY-never-shown"
    with pytest.raises(ConfigError) as refused:
        Sandbox(_settings(tmp_path, xendit_secret_key=live))
    assert "XENDIT_SECRET_KEY" in str(refused.value)
    assert live not in str(refused.value)


async def test_a_configured_development_key_and_token_are_used(
    open_sandbox: Open,
) -> None:
    key = "xnd_development_of_this_test"
    async for client in open_sandbox(xendit_secret_key=key, xendit_callback_token="tok"):
        demo = await client.get("/sandbox/xendit/v2/invoices", auth=KEY)
        assert demo.status_code == 401
        mine = await client.get("/sandbox/xendit/v2/invoices", auth=(key, ""))
        assert (mine.status_code, mine.json()) == (200, [])


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1e400", '"5"', "true", "null"])
async def test_amounts_that_are_not_numbers_are_400(open_sandbox: Open, amount: str) -> None:
    async for client in open_sandbox():
        answer = await client.post(
            "/sandbox/xendit/v2/invoices",
            content=f'{{"external_id": "x", "amount": {amount}}}'.encode(),
            headers={"Content-Type": "application/json"},
            auth=KEY,
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == "API_VALIDATION_ERROR"


def test_settings_give_the_xendit_key_and_token_the_adapter_uses(tmp_path: Path) -> None:
    demo = _settings(tmp_path)
    assert demo.xendit_secret_key_value() == DEMO_XENDIT_SECRET_KEY
    assert demo.xendit_callback_token_value() == DEMO_XENDIT_CALLBACK_TOKEN
    mine = _settings(tmp_path, xendit_secret_key="xnd_development_x", xendit_callback_token="t")
    assert (mine.xendit_secret_key_value(), mine.xendit_callback_token_value()) == (
        "xnd_development_x",
        "t",
    )
    real = _settings(tmp_path, bayar_sandbox=False)
    for read, name in (
        (real.xendit_secret_key_value, "XENDIT_SECRET_KEY"),
        (real.xendit_callback_token_value, "XENDIT_CALLBACK_TOKEN"),
    ):
        with pytest.raises(ConfigError, match=name):
            read()
    live = "xnd_production_secret"
    with pytest.raises(ConfigError) as refused:
        _settings(tmp_path, xendit_secret_key=live).xendit_secret_key_value()
    assert live not in str(refused.value)
    production = _settings(tmp_path, bayar_sandbox=False, xendit_secret_key=live)
    assert production.xendit_secret_key_value() == live  # real mode takes the live key


async def test_the_qris_simulator_pays_a_xendit_qr_payment_request(open_sandbox: Open) -> None:
    """A customer's e-wallet scans the kiosk's QR: the pasted `qr_string` finds the payment
    request, and its Pay button pays it (Xendit's payment.succeeded follows)."""
    async for client in open_sandbox():
        qr = await _qr(client)
        qr_string = qr["payment_method"]["qr_code"]["channel_properties"]["qr_string"]

        scanned = await client.post("/sandbox/qris", data={"qr": f" {qr_string}\n"})
        assert scanned.status_code == 200
        assert 'data-testid="qr-result"' in scanned.text
        assert "kiosk-1" in scanned.text
        assert "Rp 7.000" in scanned.text
        assert f'action="/sandbox/actions/xendit/{qr["id"]}/pay"' in scanned.text

        paid = await client.post(
            f"/sandbox/actions/xendit/{qr['id']}/pay",
            data={"next": f"/transactions/xendit/{qr['id']}"},
        )
        assert paid.status_code == 303
        assert paid.headers["location"].startswith(f"/sandbox/transactions/xendit/{qr['id']}?")
        got = await client.get(f"/sandbox/xendit/payment_requests/{qr['id']}", auth=KEY)
        assert got.json()["status"] == "SUCCEEDED"

        again = await client.post("/sandbox/qris", data={"qr": qr_string}, params={"lang": "en"})
        assert again.status_code == 200
        assert "/pay" not in again.text.split('data-testid="qr-result"')[1]
        assert "This QR has already been paid." in again.text


async def test_the_qris_simulator_pays_the_qr_of_a_xendit_invoice(open_sandbox: Open) -> None:
    async for client in open_sandbox():
        invoice = await _invoice(client, payment_methods=["QRIS", "BCA"])
        page = (await client.get(f"/sandbox/xendit/web/{invoice['id']}")).text
        qr_string = page.split('<code class="wrap">', 1)[1].split("</code>", 1)[0]

        scanned = await client.post("/sandbox/qris", data={"qr": qr_string}, params={"lang": "en"})
        assert "Xendit invoice, by QRIS" in scanned.text
        paid = await client.post(f"/sandbox/actions/xendit/{invoice['id']}/pay")
        assert paid.status_code == 303
        got = await client.get(f"/sandbox/xendit/v2/invoices/{invoice['id']}", auth=KEY)

    assert (got.json()["status"], got.json()["payment_channel"]) == ("PAID", "QRIS")


async def test_a_qr_nobody_issued_is_still_404(open_sandbox: Open) -> None:
    async for client in open_sandbox():
        await _qr(client)
        unknown = await client.post("/sandbox/qris", data={"qr": "00020101021226NOPE"})

    assert unknown.status_code == 404
    assert 'data-testid="qr-error"' in unknown.text
