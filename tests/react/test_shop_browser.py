"""The React shop (issue 14) end to end in Chromium: the built app on its own origin pays through
bayar's public API and the sandbox's snap.js popup; its order page follows bayar's status live."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import pytest
from livesupport import screenshot_dir
from playwright.sync_api import expect

from bayar.config import DEMO_CLIENT_KEY

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import FrameLocator, Page
    from tests.react.conftest import ReactShop

pytestmark = pytest.mark.browser

GOOD_CARD = (
    "4411111111111118"  # the sandbox's bank accepts it without 3-D Secure (sandbox/cards.py)
)
DECLINED_CARD = "4711111111111115"  # the sandbox's bank declines it
ORDER_URL = re.compile(r"/orders/([^/?]+)")


def checkout(page: Page, *products: str) -> FrameLocator:
    """Put one of each product in the cart, fill the form, pay: Snap's popup, ready to choose."""
    for product in products:
        page.get_by_test_id(f"product-{product}").get_by_role("button").click()
    form = page.get_by_test_id("checkout")
    form.locator("input[name='first_name']").fill("Budi")
    form.locator("input[name='email']").fill("budi@example.com")
    form.locator("input[name='phone']").fill("0812 3456 7890")
    page.get_by_test_id("pay").click()
    popup = page.frame_locator("iframe#snap-midtrans")
    popup.locator("[data-view='choose'] h2").wait_for()
    return popup


def pay_by_card(popup: FrameLocator, number: str) -> None:
    popup.locator("[data-method='credit_card']").click()
    popup.locator("#card-number").fill(number)
    popup.locator("#card-expiry").fill(f"12{(datetime.now(UTC).year + 2) % 100:02d}")
    popup.locator("#card-cvv").fill("123")
    popup.locator("#card-submit").click()


def charge_card(react_shop: ReactShop, snap_token: str, number: str) -> str:
    """What the Snap page does with a card: tokenize it with the client key, then charge."""
    tokenized = httpx.get(
        f"{react_shop.url}/sandbox/midtrans/v2/token",
        params={
            "client_key": DEMO_CLIENT_KEY,
            "card_number": number,
            "card_exp_month": "12",
            "card_exp_year": str(datetime.now(UTC).year + 2),
            "card_cvv": "123",
        },
        timeout=15,
    )
    tokenized.raise_for_status()
    charged = httpx.post(
        f"{react_shop.url}/sandbox/midtrans/snap/v2/vtweb/{snap_token}/charge",
        json={"payment_type": "credit_card", "token_id": tokenized.json()["token_id"]},
        timeout=15,
    )
    charged.raise_for_status()
    status: str = charged.json()["transaction_status"]
    return status


def order_page(page: Page, via: str) -> str:
    """The order page the popup's callback led to (`?via=success|pending|error|close`): its id."""
    page.wait_for_url(re.compile(rf"/orders/[^/?]+\?via={via}$"))
    found = ORDER_URL.search(page.url)
    assert found is not None
    page.get_by_test_id("order").wait_for()
    return found.group(1)


def expect_view(page: Page, status: str, title: str) -> None:
    order = page.get_by_test_id("order")
    expect(order).to_have_attribute("data-status", status)
    expect(page.get_by_test_id("title")).to_have_text(title)


def test_pay_with_qris_in_the_snap_popup(page: Page, react_shop: ReactShop) -> None:
    before = react_shop.stock("cola")
    product = page.get_by_test_id("product-cola")
    expect(product.get_by_test_id("stock")).to_have_text(f"Stok: {before}")

    popup = checkout(page, "cola", "air-mineral")
    expect(popup.locator("#amount")).to_have_text("Rp 11.000")  # priced by bayar: 7.000 + 4.000
    popup.locator("[data-method='qris']").click()
    popup.locator("#simulate-btn").click()

    order_id = order_page(page, "success")
    expect_view(page, "paid", "Pembayaran berhasil")
    expect(page.get_by_test_id("order-total")).to_have_text("Rp 11.000")
    page.screenshot(path=str(screenshot_dir() / "react-shop-paid.png"))
    assert react_shop.order(order_id)["status"] == "paid"

    page.get_by_role("button", name="Kembali ke toko").click()
    expect(product.get_by_test_id("stock")).to_have_text(f"Stok: {before - 1}")
    expect(page.get_by_test_id("cart-empty")).to_be_visible()


def test_pay_by_card_in_the_snap_popup_in_english(page: Page, react_shop: ReactShop) -> None:
    page.get_by_test_id("language").click()
    expect(page.get_by_role("heading", name="Products")).to_be_visible()

    popup = checkout(page, "cola")
    expect(popup.locator("[data-view='choose'] h2")).to_have_text("Choose a payment method")
    pay_by_card(popup, GOOD_CARD)

    order_id = order_page(page, "success")
    expect_view(page, "paid", "Payment received")
    assert react_shop.order(order_id)["status"] == "paid"


def test_a_bank_transfer_paid_in_the_simulator_while_its_page_is_open(
    page: Page, react_shop: ReactShop
) -> None:
    popup = checkout(page, "cola")
    popup.locator("[data-group='bank']").click()
    popup.locator("[data-method='bca_va']").click()
    popup.locator("#va-number").filter(has_text=re.compile(r"\d")).wait_for()
    number = popup.locator("#va-number").inner_text()
    popup.locator("#pending-back").click()  # "back to the shop": onPending

    order_id = order_page(page, "pending")
    expect_view(page, "pending", "Menunggu pembayaran")
    expect(page.get_by_test_id("va-number")).to_have_text(number)  # as bayar learnt it
    expect(page.get_by_test_id("va")).to_contain_text("BCA")
    page.screenshot(path=str(screenshot_dir() / "react-shop-pending.png"))

    react_shop.sandbox(order_id, "pay")  # the customer pays at the bank: the page follows
    expect_view(page, "paid", "Pembayaran berhasil")
    expect(page.get_by_test_id("pay-again")).to_have_count(0)


def test_a_declined_card_says_so_and_another_card_pays(page: Page, react_shop: ReactShop) -> None:
    popup = checkout(page, "cola")
    pay_by_card(popup, DECLINED_CARD)

    order_id = order_page(page, "error")
    expect_view(page, "pending", "Kartu Anda ditolak")
    expect(page.get_by_test_id("message")).to_contain_text("Tidak ada uang yang terpotong")
    assert react_shop.order(order_id)["declined_attempt"] is True
    expect(popup.locator("#done-title")).to_be_visible()  # the popup says it too, until closed
    popup.locator("#close-btn").click()
    expect(page.locator("iframe#snap-midtrans")).to_have_count(0)

    expect(page.get_by_test_id("pay-again")).to_have_text("Coba kartu atau metode lain")

    # Another card on the same Snap transaction, as the Snap page charges it; the page follows.
    # (The sandbox's popup, opened again, shows the declined result: its page is not retried here.)
    token = react_shop.order(order_id)["payment"]["token"]
    assert charge_card(react_shop, token, GOOD_CARD) == "capture"
    expect_view(page, "paid", "Pembayaran berhasil")


def test_an_order_left_unpaid_expires_on_its_page(page: Page, react_shop: ReactShop) -> None:
    popup = checkout(page, "air-mineral")
    popup.locator("#close-btn").click()  # onClose: the order waits for its payment

    order_id = order_page(page, "close")
    expect_view(page, "pending", "Menunggu pembayaran")
    expect(page.get_by_test_id("pay-again")).to_have_text("Bayar sekarang")
    expect(page.locator(".order")).to_contain_text("WIB")

    # "Pay now" opens the same transaction again; a method chosen and left unpaid expires.
    page.get_by_test_id("pay-again").click()
    popup = page.frame_locator("iframe#snap-midtrans")
    popup.locator("[data-group='bank']").click()
    popup.locator("[data-method='bni_va']").click()
    popup.locator("#va-number").filter(has_text=re.compile(r"\d")).wait_for()
    popup.locator("#pending-back").click()
    assert order_page(page, "pending") == order_id
    expect(page.get_by_test_id("va")).to_contain_text("BNI")

    react_shop.sandbox(order_id, "expire")
    expect_view(page, "expired", "Waktu pembayaran habis")
    expect(page.get_by_test_id("pay-again")).to_have_count(0)
    page.get_by_test_id("order-again").click()
    page.get_by_test_id("catalog").wait_for()


def test_the_form_is_checked_and_api_errors_are_said_in_plain_words(
    page: Page, react_shop: ReactShop
) -> None:
    page.get_by_test_id("pay").click()  # nothing filled in: checked here, nothing sent
    expect(page.get_by_test_id("error-first_name")).to_have_text("Isi nama Anda.")
    expect(page.get_by_test_id("error-phone")).to_be_visible()

    orders = react_shop.order_ids()
    stock = react_shop.stock("teh-manis")
    page.get_by_test_id("product-teh-manis").get_by_role("button").click()
    react_shop.sql("UPDATE products SET stock = 0 WHERE id = 'teh-manis'")  # someone else's
    try:
        form = page.get_by_test_id("checkout")
        form.locator("input[name='first_name']").fill("Sari")
        form.locator("input[name='email']").fill("sari@example.com")
        form.locator("input[name='phone']").fill("081234567890")
        page.get_by_test_id("pay").click()

        problem = page.get_by_test_id("problem")
        expect(problem).to_contain_text("Stok tidak cukup")
        expect(problem).to_contain_text("Keterangan dari server:")
        stock_shown = page.get_by_test_id("product-teh-manis").get_by_test_id("stock")
        expect(stock_shown).to_have_text("Habis")  # the catalog asked bayar again
        page.screenshot(path=str(screenshot_dir() / "react-shop-stock-gone.png"))
        assert page.url.rstrip("/") == react_shop.shop
        assert react_shop.order_ids() == orders
    finally:
        react_shop.sql("UPDATE products SET stock = ? WHERE id = 'teh-manis'", stock)

    page.goto(f"{react_shop.shop}/orders/BYR-20260101-0000000000")  # bayar answers 404
    expect(page.get_by_test_id("problem")).to_have_text("Pesanan ini tidak ditemukan.")
