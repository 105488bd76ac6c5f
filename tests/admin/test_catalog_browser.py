"""The owner's catalog and the refunds a person can trust, in a real browser (Debian's chromium
through Playwright): a product added in the admin is for sale in the shop and on a kiosk; archived,
it leaves both but stays on its old orders; a bank-transfer order, which the gateway cannot refund,
is refunded by hand and recorded after a confirmation. In Indonesian, as a browser asking for it
gets it, and in English (the words from the catalogs, tests/support/words.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from bayar_admin_testkit import PASSWORD, Bayar
from playwright.sync_api import Browser, Page, expect
from words import LOCALES, words

from bayar.vending.machines import create_machine

pytestmark = pytest.mark.browser

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d6a4f30000000049454e44ae426082"
)


@pytest.fixture(params=["id", "en"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def page(browser: Browser, language: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=LOCALES[language])
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, bayar: Bayar, path: str, say: Callable[..., str]) -> None:
    page.goto(f"{bayar.url}{path}")
    page.get_by_label(say("Password")).fill(PASSWORD)
    page.get_by_role("button", name=say("Log in")).click()
    expect(page).to_have_url(f"{bayar.url}{path}")


def kiosk_menu(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector('body[data-screen="home"]', state="attached", timeout=15_000)
    page.wait_for_function("window.bayarKiosk.connected && window.bayarKiosk.events.length > 0")
    page.locator("#screen-home").click(position={"x": 500, "y": 420})
    page.wait_for_selector('body[data-screen="menu"]', state="attached", timeout=15_000)


def test_a_product_added_is_sold_then_archived_but_kept_on_its_orders(
    bayar: Bayar, page: Page, tmp_path: Path, language: str
) -> None:
    say = words(language)
    # One product per run: the two languages share one bayar, and an archived id stays taken.
    title, product = {"id": ("Es Teh Tarik", "es-teh-tarik"), "en": ("Teh Tarik", "teh-tarik")}[
        language
    ]
    name = {"name": title}
    log_in(page, bayar, "/admin/products", say)
    assert page.locator("html").get_attribute("lang") == language
    page.get_by_text(say("Add a product")).click()
    form = page.get_by_test_id("add-product")
    form.get_by_label(say("Name"), exact=True).fill(title)
    form.get_by_label(say("Price (Rp)")).fill("9.000")
    form.get_by_label(say("On hand")).fill("20")
    form.get_by_label(say("Category")).fill("Minuman dingin")
    form.get_by_label(say("Description")).fill("Teh susu dingin, 350 ml")
    form.get_by_role("button", name=say("Add"), exact=True).click()
    expect(page.get_by_test_id("flash")).to_have_text(
        say("%(name)s added (%(price)s, %(stock)s on sale).", **name, price="Rp 9.000", stock=20)
    )
    row = page.locator(f"tr[data-product={product}]")
    picture = tmp_path / "es-teh.png"
    picture.write_bytes(PNG)
    row.get_by_label(say("Picture of %(name)s", **name)).set_input_files(picture)
    row.get_by_role("button", name=say("Upload")).click()
    expect(page.get_by_test_id("flash")).to_have_text(
        say("New picture for %(product)s.", product=product)
    )
    row.get_by_label(say("Description of %(name)s", **name)).fill("Teh susu dingin, 400 ml")
    row.get_by_role("button", name=say("Save")).click()
    expect(page.get_by_test_id("flash")).to_have_text(
        say("%(name)s: %(price)s, %(stock)s for sale.", **name, price="Rp 9.000", stock=20)
    )

    # For sale in the shop, with its category, description and picture…
    page.goto(f"{bayar.url}/")
    card = page.locator(f"li[data-product-id={product}]")
    expect(card).to_contain_text(title)
    expect(card).to_contain_text("Minuman dingin")
    expect(card).to_contain_text("Teh susu dingin, 400 ml")
    expect(card).to_contain_text("Rp 9.000")
    expect(card.locator("img")).to_have_attribute("src", re.compile(r"^/media/products/"))
    # …and on a kiosk whose slot holds it (`bayar machine add` needs the product to exist).
    token = bayar.run_db(
        lambda db: create_machine(db, f"lobby-{product}", "Lobby", None, [("A1", product, 4, 6)])
    )
    kiosk = f"{bayar.url}/kiosk/lobby-{product}?token={token}"
    kiosk_menu(page, kiosk)
    expect(page.locator(f'.card[data-product-id="{product}"]')).to_contain_text(title)
    # Orders of it: one by QRIS, one by bank transfer (paid, refunded later by hand).
    old = bayar.paid_order(product, 1)
    by_transfer = bayar.paid_order(product, 2, payment_type="bank_transfer", bank="bca")

    # Archived, after a confirmation…
    page.goto(f"{bayar.url}/admin/products")
    row = page.locator(f"tr[data-product={product}]")
    row.get_by_text(say("Archive…")).click()
    row.get_by_role("button", name=say("Archive %(name)s", **name)).click()
    expect(page.get_by_test_id("flash")).to_have_text(
        say("%(name)s is archived: off sale for good, still shown on its old orders.", **name)
    )
    expect(page.locator(f"tr[data-product={product}]")).to_have_count(0)
    expect(page.locator(f"tr[data-archived={product}]")).to_be_visible()

    # …it has left the shop, the kiosk and the API's checkout…
    page.goto(f"{bayar.url}/")
    expect(page.locator("#products")).to_be_visible()
    expect(page.locator(f"li[data-product-id={product}]")).to_have_count(0)
    kiosk_menu(page, kiosk)
    expect(page.locator(".card")).to_have_count(0)
    refused = httpx.post(
        f"{bayar.url}/api/payments/create-transaction",
        json={"items": [{"product_id": product, "quantity": 1}], "payment_type": "qris"},
    )
    assert refused.status_code == 422, refused.text

    # …and stays on its old orders, for the customer and the owner.
    page.goto(f"{bayar.url}/orders/{old}")
    expect(page.locator("body")).to_contain_text(title)
    page.goto(f"{bayar.url}/admin/orders/{old}")
    expect(page.locator("body")).to_contain_text(title)
    page.goto(f"{bayar.url}/admin/orders?q={by_transfer}")
    expect(page.locator("body")).to_contain_text(f"2× {title}")

    # The bank transfer: the gateway cannot refund it, so it is refunded by hand and recorded.
    page.goto(f"{bayar.url}/admin/orders/{by_transfer}")
    expect(page.get_by_test_id("refund-methods")).to_contain_text("Midtrans")
    expect(page.get_by_test_id("no-gateway-refund")).to_have_text(
        say(
            "Paid by %(method)s: %(gateway)s cannot refund it. Give the money back yourself"
            " (a transfer to the customer, or cash), then record it here.",
            method="BCA Virtual Account",
            gateway="Midtrans",
        )
    )
    expect(page.get_by_test_id("refund-form")).to_have_count(0)
    manual = page.get_by_test_id("manual-refund-form")
    manual.get_by_label(say("Bank (or cash)")).fill("BCA")
    manual.get_by_label(say("Transfer reference")).fill("TRF-7781")
    manual.get_by_label(say("Note")).fill("product withdrawn")
    manual.get_by_role("button", name=say("Record manual refund…")).click()
    expect(page.get_by_test_id("confirm-refund").locator("h1")).to_have_text(
        say("Record a manual refund of %(amount)s?", amount="Rp 18.000")
    )
    assert bayar.order(by_transfer)["status"] == "paid"
    page.get_by_role(
        "button", name=say("Yes, record %(amount)s refunded by hand", amount="Rp 18.000")
    ).click()
    expect(page.get_by_test_id("flash")).to_have_text(
        say(
            "Recorded: %(amount)s refunded by hand (%(bank)s). The order is now %(status)s.",
            amount="Rp 18.000",
            bank="BCA",
            status=say("refunded"),
        )
    )
    expect(page.get_by_test_id("order-status")).to_have_text(say("refunded"))
    where = say("%(bank)s, reference %(reference)s", bank="BCA", reference="TRF-7781")
    expect(page.get_by_test_id("refunds")).to_contain_text(  # bayar's words, the person's note
        say("refunded by hand: %(note)s", note=f"{where}: product withdrawn")
    )
    expect(page.get_by_test_id("timeline")).to_contain_text(
        say("refunded by hand: %(note)s", note=f"{where}: product withdrawn")
    )
    assert bayar.order(by_transfer)["status"] == "refunded"
    assert bayar.gateway_status(by_transfer)["transaction_status"] == "settlement"
