"""The simulator pages in a real browser: a person pays a QRIS charge in the QRIS simulator."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from livesupport import screenshot_dir
from playwright.sync_api import Browser, expect
from words import LOCALES, words

from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

AUTH = (SERVER_KEY, "")

pytestmark = pytest.mark.browser


def _charge(api_base: str, payment_type: str, amount: int, **extra: Any) -> dict[str, Any]:
    body = {
        "payment_type": payment_type,
        "transaction_details": {"order_id": f"web-{uuid.uuid4().hex[:8]}", "gross_amount": amount},
        **extra,
    }
    answer = httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def _status(api_base: str, id_: str) -> str:
    answer = httpx.get(f"{api_base}/v2/{id_}/status", auth=AUTH)
    answer.raise_for_status()
    status: str = answer.json()["transaction_status"]
    return status


def test_pay_a_qris_charge_in_the_qris_simulator(
    browser: Browser, api_base: str, sandbox_url: str
) -> None:
    # A few other payments, so the list page has something to show.
    _charge(api_base, "bank_transfer", 150000, bank_transfer={"bank": "bca"})
    _charge(
        api_base, "echannel", 89000, echannel={"bill_info1": "Payment:", "bill_info2": "Online"}
    )
    expired = _charge(api_base, "cstore", 23500, cstore={"store": "alfamart"})
    httpx.post(
        f"{sandbox_url}/_control/midtrans/{expired['transaction_id']}/expire"
    ).raise_for_status()
    _charge(api_base, "gopay", 18000)
    charge = _charge(api_base, "qris", 12500)
    assert charge["transaction_status"] == "pending"

    # In Indonesian, as a browser asking for it gets it (the words from the catalogs).
    say = words("id")
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale=LOCALES["id"])
    page.goto(f"{sandbox_url}/qris")
    page.get_by_label(say("QR code text or image URL")).fill(charge["qr_string"])
    page.get_by_role("button", name=say("Scan QR")).click()

    result = page.get_by_test_id("qr-result")
    expect(result).to_contain_text(charge["order_id"])
    expect(result).to_contain_text("Rp 12.500")
    expect(result).to_contain_text("BAYAR SANDBOX")
    expect(result).to_contain_text("pending")
    page.screenshot(path=str(screenshot_dir() / "sandbox-qris.png"), full_page=True)

    result.get_by_role("button", name=say("Pay %(amount)s", amount="Rp 12.500")).click()

    expect(page.get_by_role("heading", name=say("Payment successful"))).to_be_visible()
    expect(page.locator("[data-flash]")).to_contain_text(
        say("Paid: %(order)s is now %(status)s.", order=charge["order_id"], status="settlement")
    )
    assert "msg=" not in page.url  # the one-off message is dropped from the address bar
    assert _status(api_base, charge["transaction_id"]) == "settlement"

    # The list: the paid charge is settled; a new charge shows up by itself (live refresh).
    page.goto(f"{sandbox_url}/")
    row = page.locator(f"tr[data-transaction-id='{charge['transaction_id']}']")
    expect(row).to_contain_text("settlement")
    expect(row.get_by_role("button")).to_have_count(0)
    countdown = page.locator("tr .countdown").first
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=3000)  # it counts down
    late = _charge(api_base, "qris", 7000)
    expect(page.locator(f"tr[data-transaction-id='{late['transaction_id']}']")).to_contain_text(
        "Rp 7.000", timeout=8000
    )
    page.screenshot(path=str(screenshot_dir() / "sandbox-simulator.png"), full_page=True)

    # Pressing a button in the list works too, and the list says what happened.
    page.locator(f"tr[data-transaction-id='{late['transaction_id']}']").get_by_role(
        "button", name=say("Cancel")
    ).click()
    expect(page.locator("[data-flash]")).to_contain_text(
        say("Cancelled: %(order)s is now %(status)s.", order=late["order_id"], status="cancel")
    )
    assert _status(api_base, late["transaction_id"]) == "cancel"


def test_pages_fit_a_phone(browser: Browser, api_base: str, sandbox_url: str) -> None:
    qr = _charge(api_base, "qris", 10000)
    gopay = _charge(api_base, "gopay", 20000)
    httpx.post(f"{sandbox_url}/_control/midtrans/{qr['transaction_id']}/pay").raise_for_status()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    for path in (
        "/",
        "/qris",
        "/pay-code",
        "/control",
        f"/transactions/{qr['transaction_id']}",
        f"/result/{qr['transaction_id']}",
        f"/gopay/checkout?referenceid={gopay['transaction_id']}",
    ):
        page.goto(f"{sandbox_url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
