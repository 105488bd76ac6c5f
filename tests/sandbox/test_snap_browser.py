"""snap.js in a real browser: a merchant page on its own origin pays through the sandbox's popup.

Playwright drives Debian's chromium. The merchant page is a tiny Starlette app on another port
(another origin), loading `{api_base}/snap/snap.js` exactly as a page written for Midtrans does.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from livesupport import LiveServer, screenshot_dir
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bayar.config import DEMO_CLIENT_KEY as CLIENT_KEY
from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import Browser, FrameLocator, Page
    from tests.sandbox.conftest import Receiver

pytestmark = pytest.mark.browser  # tests/conftest.py skips (or fails under CI) without chromium

AUTH = (SERVER_KEY, "")

MERCHANT_PAGE = """<!doctype html>
<html lang="id">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>Toko Minuman</title>
  <script src="{snap_js}" data-client-key="{client_key}"></script>
  <style>
    body {{ font-family: system-ui, sans-serif; margin: 0; background: #f4f1ea; color: #1c1917; }}
    main {{ max-width: 720px; margin: 0 auto; padding: 48px 24px; }}
    .card {{ background: #fff; border-radius: 16px; padding: 24px; box-shadow: 0 2px 12px #0001; }}
    button {{ font: inherit; font-weight: 700; padding: 12px 20px; border: 0; border-radius: 10px;
              background: #166534; color: #fff; }}
    #snap-container {{ width: 420px; height: 680px; }}
  </style>
</head>
<body>
  <main>
    <h1>Toko Minuman</h1>
    <div class="card">
      <p>2 × Teh Botol · 1 × Air Mineral</p>
      <p><strong>Total Rp 10.000</strong></p>
      <button id="pay-button">Bayar sekarang</button>
    </div>
    <div id="snap-container"></div>
  </main>
  <script>
    window.events = [];
    function record(name) {{
      return function (result) {{ window.events.push({{ name: name, result: result || null }}); }};
    }}
    window.callbacks = function (extra) {{
      return Object.assign({{
        onSuccess: record('success'), onPending: record('pending'),
        onError: record('error'), onClose: record('close')
      }}, extra || {{}});
    }};
  </script>
</body>
</html>
"""


def _merchant_app(api_base: str) -> Starlette:
    page = MERCHANT_PAGE.format(
        snap_js=html.escape(f"{api_base}/snap/snap.js"), client_key=html.escape(CLIENT_KEY)
    )

    async def shop(_: Request) -> Response:
        return HTMLResponse(page)

    async def finish(request: Request) -> Response:
        return HTMLResponse(
            f"<h1>finished</h1><pre id='query'>{html.escape(request.url.query)}</pre>"
        )

    return Starlette(routes=[Route("/", shop), Route("/finish", finish)])


@pytest.fixture(scope="module")
def merchant(sandbox_server: str) -> Iterator[str]:
    with LiveServer(_merchant_app(f"{sandbox_server}/sandbox/midtrans")) as server:
        yield server.url


@pytest.fixture
def page(browser: Browser, merchant: str, api_base: str, problems: list[str]) -> Iterator[Page]:
    """The merchant's page, loaded; console errors of the page or the popup fail the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    tab.goto(merchant)
    tab.wait_for_function(
        "typeof window.snap === 'object' && typeof window.snap.pay === 'function'"
    )
    yield tab
    context.close()
    assert problems == []


def _token(api_base: str, **extra: Any) -> dict[str, Any]:
    order_id = f"web-{uuid.uuid4().hex[:10]}"
    body = {
        "transaction_details": {"order_id": order_id, "gross_amount": 10000},
        "item_details": [
            {"id": "tea", "name": "Teh Botol", "price": 4000, "quantity": 2},
            {"id": "water", "name": "Air Mineral", "price": 2000, "quantity": 1},
        ],
        **extra,
    }
    answer = httpx.post(f"{api_base}/snap/v1/transactions", json=body, auth=AUTH)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    created["order_id"] = order_id
    return created


def _pay(page: Page, token: str, options: str = "{}") -> FrameLocator:
    page.evaluate(f"token => snap.pay(token, window.callbacks({options}))", token)
    popup = page.frame_locator("iframe#snap-midtrans")
    popup.locator("[data-view='choose'] h2").wait_for()
    return popup


def _events(page: Page, count: int = 1) -> list[dict[str, Any]]:
    page.wait_for_function(f"window.events.length >= {count}", timeout=10_000)
    events: list[dict[str, Any]] = page.evaluate("window.events")
    return events


def _overlay_gone(page: Page) -> None:
    page.wait_for_function("document.querySelector('.bayar-snap-overlay') === null", timeout=10_000)


def test_pay_with_qris_in_the_popup_ends_in_on_success(
    page: Page, api_base: str, receiver: Receiver
) -> None:
    snap = _token(api_base)
    popup = _pay(page, snap["token"])
    assert popup.locator("#amount").inner_text() == "Rp 10.000"
    popup.locator("[data-method='qris']").click()

    qr = popup.locator("#qr-image")
    qr.wait_for(state="visible")
    snap_frame = page.frame(name="snap-midtrans")
    assert snap_frame is not None  # narrows the type: the popup's frame is there
    snap_frame.wait_for_function(
        "() => { const img = document.getElementById('qr-image');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    popup.locator("#countdown-value").filter(has_text=":").wait_for()
    assert popup.locator("#simulate-btn").is_visible()
    assert page.evaluate("window.events") == []
    page.screenshot(path=str(screenshot_dir() / "sandbox-snap-payment.png"))

    popup.locator("#simulate-btn").click()
    events = _events(page)
    assert [e["name"] for e in events] == ["success"]
    result = events[0]["result"]
    assert result["transaction_status"] == "settlement"
    assert result["status_code"] == "200"
    assert result["order_id"] == snap["order_id"]
    assert result["payment_type"] == "qris"
    assert result["gross_amount"] == "10000.00"
    assert "signature_key" not in result
    assert popup.locator("#done-title").inner_text() == "Pembayaran berhasil"

    _overlay_gone(page)  # closes by itself after success
    page.wait_for_timeout(1500)
    assert len(page.evaluate("window.events")) == 1  # exactly once

    # The merchant's back end learns it from the signed webhook and the status API, not the page.
    status = httpx.get(f"{api_base}/v2/{snap['order_id']}/status", auth=AUTH).json()
    assert status["transaction_status"] == "settlement"
    bodies = [json.loads(r.body) for r in receiver.wait_for(2, path="/hook")]
    assert "settlement" in [b["transaction_status"] for b in bodies]


def test_closing_before_choosing_calls_on_close(page: Page, api_base: str) -> None:
    snap = _token(api_base)
    popup = _pay(page, snap["token"])
    with pytest.raises(Exception, match="not allowed"):
        page.evaluate("token => snap.pay(token, {})", snap["token"])  # one popup at a time
    popup.locator("#close-btn").click()
    events = _events(page)
    assert events == [{"name": "close", "result": None}]
    _overlay_gone(page)
    status = httpx.get(f"{api_base}/snap/v2/vtweb/{snap['token']}/status").json()
    assert status == {"transaction_status": None}

    # The same token opens again while valid; Escape on the merchant page closes it too.
    popup = _pay(page, snap["token"])
    page.keyboard.press("Escape")
    events = _events(page, 2)
    assert [e["name"] for e in events] == ["close", "close"]
    _overlay_gone(page)
    page.wait_for_timeout(500)
    assert len(page.evaluate("window.events")) == 2


def test_leaving_a_chosen_bank_transfer_calls_on_pending(page: Page, api_base: str) -> None:
    snap = _token(api_base)
    popup = _pay(page, snap["token"], "{language: 'en'}")
    assert popup.locator("[data-view='choose'] h2").inner_text() == "Choose a payment method"
    popup.locator("[data-group='bank']").click()
    popup.locator("[data-method='bca_va']").click()
    va = popup.locator("#va-number")
    va.filter(has_text="1").wait_for()
    number = va.inner_text()
    popup.locator("#pending-back").click()
    events = _events(page)
    assert [e["name"] for e in events] == ["pending"]
    result = events[0]["result"]
    assert result["status_code"] == "201"
    assert result["transaction_status"] == "pending"
    assert result["va_numbers"] == [{"bank": "bca", "va_number": number}]
    _overlay_gone(page)


def test_card_with_3ds_in_the_popup(page: Page, api_base: str) -> None:
    snap = _token(api_base)
    popup = _pay(page, snap["token"], "{language: 'en'}")
    popup.locator("[data-method='credit_card']").click()
    popup.locator("#card-number").fill("4811111111111114")
    popup.locator("#card-expiry").fill("1240")
    popup.locator("#card-cvv").fill("123")
    assert popup.locator("#card-number").input_value() == "4811 1111 1111 1114"
    popup.locator("#card-submit").click()
    popup.locator("#otp").wait_for(state="visible")
    popup.locator("#otp").fill("112233")
    popup.locator("#otp-submit").click()
    events = _events(page)
    assert [e["name"] for e in events] == ["success"]
    assert events[0]["result"]["transaction_status"] == "capture"
    assert events[0]["result"]["fraud_status"] == "accept"


def test_embedded_and_unknown_tokens(page: Page, api_base: str, problems: list[str]) -> None:
    snap = _token(api_base)
    page.evaluate(
        "token => snap.embed(token, window.callbacks({embedId: 'snap-container'}))", snap["token"]
    )
    frame = page.frame_locator("#snap-container iframe")
    frame.locator("[data-method='gopay']").click()
    frame.locator("#simulate-btn").click()
    events = _events(page)
    assert [e["name"] for e in events] == ["success"]
    assert events[0]["result"]["payment_type"] == "gopay"
    page.wait_for_timeout(2500)
    assert page.locator("#snap-container iframe").count() == 1  # embedded: stays in place
    frame.locator("#done-back").click()  # leaving after the result: no second callback
    page.wait_for_function("document.querySelector('#snap-container iframe') === null")
    page.wait_for_timeout(300)
    assert [e["name"] for e in page.evaluate("window.events")] == ["success"]

    page.evaluate("token => snap.pay(token, window.callbacks())", str(uuid.uuid4()))
    events = _events(page, 2)
    assert events[1]["name"] == "error"
    assert events[1]["result"]["status_code"] == "404"
    # The popup's own document answered 404, as it should; chromium logs that.
    assert problems == [
        "console: Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    problems.clear()


def test_redirect_mode_returns_to_the_finish_url(
    browser: Browser, merchant: str, api_base: str
) -> None:
    snap = _token(api_base, callbacks={"finish": f"{merchant}/finish"})
    context = browser.new_context(viewport={"width": 390, "height": 844})
    tab = context.new_page()
    try:
        tab.goto(snap["redirect_url"])
        tab.locator("[data-method='qris']").click()
        tab.locator("#simulate-btn").click()
        tab.locator("#done-title").filter(has_text="Pembayaran berhasil").wait_for()
        tab.wait_for_url(f"{merchant}/finish?*", timeout=10_000)
        assert tab.locator("#query").inner_text() == (
            f"order_id={snap['order_id']}&status_code=200&transaction_status=settlement"
        )
    finally:
        context.close()
