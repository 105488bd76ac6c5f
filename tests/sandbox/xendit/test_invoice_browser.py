"""Xendit's hosted invoice page in a real browser: a payer picks a method and pays, and is sent to
the shop's success URL; another lets the invoice expire and is sent to its failure URL. The page
speaks the payer's language (Indonesian here, its words from the catalogs), English one tap away,
and an invoice's own `locale` wins over the browser's, as on Xendit's checkout."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
import xendit
from livesupport import screenshot_dir
from playwright.sync_api import Browser, expect
from words import LOCALES, words
from xendit.apis import InvoiceApi

if TYPE_CHECKING:
    from tests.sandbox.conftest import Receiver

pytestmark = pytest.mark.browser


def test_pay_an_invoice_then_let_another_expire(
    browser: Browser, client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    api = InvoiceApi(client)
    shop = f"{receiver.url}/shop/orders/{uuid.uuid4().hex[:6]}"
    urls = {"success_redirect_url": f"{shop}?paid=1", "failure_redirect_url": f"{shop}?failed=1"}
    invoice = api.create_invoice(
        {"external_id": "web-1", "amount": 42000, "description": "Kopi susu x 2", **urls}
    )
    say = words("id")
    page = browser.new_page(viewport={"width": 420, "height": 900}, locale=LOCALES["id"])
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )

    page.goto(invoice.invoice_url)
    expect(page.get_by_test_id("amount")).to_have_text("Rp 42.000")
    expect(page.get_by_text("Kopi susu x 2")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "id"
    expect(
        page.get_by_role("img", name=say("QRIS code of invoice %(id)s", id="web-1"))
    ).to_be_visible()
    expect(page.get_by_text(say("Virtual account"), exact=True)).to_be_visible()
    bca = next(b for b in invoice.available_banks if str(b.bank_code) == "BCA")
    expect(page.get_by_text(bca.bank_account_number)).to_be_visible()
    page.screenshot(path=str(screenshot_dir() / "sandbox-xendit-invoice.png"), full_page=True)
    page.get_by_test_id("method-BCA").check()
    page.get_by_test_id("pay").click()
    page.wait_for_url(f"{shop}?paid=1")
    paid = api.get_invoice_by_id(invoice.id)
    assert (str(paid.status), paid["payment_channel"]) == ("PAID", "BCA")
    assert paid["payment_destination"] == bca.bank_account_number

    late = api.create_invoice(
        {"external_id": "web-2", "amount": 15000, "invoice_duration": 120, **urls}
    )
    page.goto(late.invoice_url)
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^0[12]:\d\d$"))
    httpx.post(f"{root}/_control/clock", json={"advance": 121}).raise_for_status()
    page.wait_for_url(f"{shop}?failed=1")  # the page saw it expire and left
    assert str(api.get_invoice_by_id(late.id).status) == "EXPIRED"
    page.goto(late.invoice_url)
    expect(page.get_by_test_id("expired")).to_contain_text(say("This invoice has expired"))
    page.get_by_role("link", name="English").click()  # the toggle
    expect(page.get_by_test_id("expired")).to_contain_text(words("en")("This invoice has expired"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert problems == []


def test_the_invoices_locale_wins_over_the_browsers(
    browser: Browser, client: xendit.ApiClient
) -> None:
    api = InvoiceApi(client)
    invoice = api.create_invoice({"external_id": "web-en", "amount": 9000, "locale": "en"})
    page = browser.new_page(locale=LOCALES["id"])
    page.goto(invoice.invoice_url)
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.get_by_test_id("pay")).to_have_text(
        words("en")("Simulate payment of %(amount)s", amount="Rp 9.000")
    )
    page.close()
