"""The owner's catalog and the refunds a person can trust, in a real browser (Debian's chromium
through Playwright): a product added in the admin is for sale in the shop and on a kiosk; archived,
it leaves both but stays on its old orders; a bank-transfer order, which the gateway cannot refund,
is refunded by hand and recorded after a confirmation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bayar_admin_testkit import PASSWORD, Bayar
from playwright.sync_api import Browser, Page, expect

from bayar.vending.machines import create_machine

pytestmark = pytest.mark.browser

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d6a4f30000000049454e44ae426082"
)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, bayar: Bayar, path: str) -> None:
    page.goto(f"{bayar.url}{path}")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{bayar.url}{path}")


def kiosk_menu(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector('body[data-screen="home"]', state="attached", timeout=15_000)
    page.wait_for_function("window.bayarKiosk.connected && window.bayarKiosk.events.length > 0")
    page.locator("#screen-home").click(position={"x": 500, "y": 420})
    page.wait_for_selector('body[data-screen="menu"]', state="attached", timeout=15_000)


def test_a_product_added_is_sold_then_archived_but_kept_on_its_orders(
    bayar: Bayar, page: Page, tmp_path: Path
) -> None:
    log_in(page, bayar, "/admin/products")
    page.get_by_text("Add a product").click()
    form = page.get_by_test_id("add-product")
    form.get_by_label("Name", exact=True).fill("Es Teh Tarik")
    form.get_by_label("Price (Rp)").fill("9.000")
    form.get_by_label("On hand").fill("20")
    form.get_by_label("Category").fill("Minuman dingin")
    form.get_by_label("Description").fill("Teh susu dingin, 350 ml")
    form.get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("flash")).to_have_text("Es Teh Tarik added (Rp 9.000, 20 on sale).")
    row = page.locator("tr[data-product=es-teh-tarik]")
    picture = tmp_path / "es-teh.png"
    picture.write_bytes(PNG)
    row.get_by_label("Picture of Es Teh Tarik").set_input_files(picture)
    row.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("flash")).to_have_text("New picture for es-teh-tarik.")
    row.get_by_label("Description of Es Teh Tarik").fill("Teh susu dingin, 400 ml")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("Es Teh Tarik: Rp 9.000, 20 for sale.")

    # For sale in the shop, with its category, description and picture…
    page.goto(f"{bayar.url}/")
    card = page.locator("li[data-product-id=es-teh-tarik]")
    expect(card).to_contain_text("Es Teh Tarik")
    expect(card).to_contain_text("Minuman dingin")
    expect(card).to_contain_text("Teh susu dingin, 400 ml")
    expect(card).to_contain_text("Rp 9.000")
    expect(card.locator("img")).to_have_attribute("src", re.compile(r"^/media/products/"))
    # …and on a kiosk whose slot holds it (`bayar machine add` needs the product to exist).
    token = bayar.run_db(
        lambda db: create_machine(db, "lobby-teh", "Lobby", None, [("A1", "es-teh-tarik", 4, 6)])
    )
    kiosk = f"{bayar.url}/kiosk/lobby-teh?token={token}"
    kiosk_menu(page, kiosk)
    expect(page.locator('.card[data-product-id="es-teh-tarik"]')).to_contain_text("Es Teh Tarik")
    # Orders of it: one by QRIS, one by bank transfer (paid, refunded later by hand).
    old = bayar.paid_order("es-teh-tarik", 1)
    by_transfer = bayar.paid_order("es-teh-tarik", 2, payment_type="bank_transfer", bank="bca")

    # Archived, after a confirmation…
    page.goto(f"{bayar.url}/admin/products")
    row = page.locator("tr[data-product=es-teh-tarik]")
    row.get_by_text("Archive…").click()
    row.get_by_role("button", name="Archive Es Teh Tarik").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Es Teh Tarik is archived")
    expect(page.locator("tr[data-product=es-teh-tarik]")).to_have_count(0)
    expect(page.locator("tr[data-archived=es-teh-tarik]")).to_be_visible()

    # …it has left the shop, the kiosk and the API's checkout…
    page.goto(f"{bayar.url}/")
    expect(page.locator("#products")).to_be_visible()
    expect(page.locator("li[data-product-id=es-teh-tarik]")).to_have_count(0)
    kiosk_menu(page, kiosk)
    expect(page.locator(".card")).to_have_count(0)
    refused = httpx.post(
        f"{bayar.url}/api/payments/create-transaction",
        json={"items": [{"product_id": "es-teh-tarik", "quantity": 1}], "payment_type": "qris"},
    )
    assert refused.status_code == 422, refused.text

    # …and stays on its old orders, for the customer and the owner.
    page.goto(f"{bayar.url}/orders/{old}")
    expect(page.locator("body")).to_contain_text("Es Teh Tarik")
    page.goto(f"{bayar.url}/admin/orders/{old}")
    expect(page.locator("body")).to_contain_text("Es Teh Tarik")
    page.goto(f"{bayar.url}/admin/orders?q={by_transfer}")
    expect(page.locator("body")).to_contain_text("2× Es Teh Tarik")

    # The bank transfer: the gateway cannot refund it, so it is refunded by hand and recorded.
    page.goto(f"{bayar.url}/admin/orders/{by_transfer}")
    expect(page.get_by_test_id("refund-methods")).to_contain_text("Midtrans refunds")
    expect(page.get_by_test_id("no-gateway-refund")).to_contain_text(
        "Paid by BCA Virtual Account: Midtrans cannot refund it."
    )
    expect(page.get_by_test_id("refund-form")).to_have_count(0)
    manual = page.get_by_test_id("manual-refund-form")
    manual.get_by_label("Bank (or cash)").fill("BCA")
    manual.get_by_label("Transfer reference").fill("TRF-7781")
    manual.get_by_label("Note").fill("product withdrawn")
    manual.get_by_role("button", name="Record manual refund…").click()
    expect(page.get_by_test_id("confirm-refund")).to_contain_text(
        "Record a manual refund of Rp 18.000?"
    )
    assert bayar.order(by_transfer)["status"] == "paid"
    page.get_by_role("button", name="Yes, record Rp 18.000 refunded by hand").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "Recorded: Rp 18.000 refunded by hand (BCA). The order is now refunded."
    )
    expect(page.get_by_test_id("order-status")).to_have_text("refunded")
    expect(page.get_by_test_id("refunds")).to_contain_text(
        "refunded by hand: BCA, reference TRF-7781: product withdrawn"
    )
    assert bayar.order(by_transfer)["status"] == "refunded"
    assert bayar.gateway_status(by_transfer)["transaction_status"] == "settlement"
