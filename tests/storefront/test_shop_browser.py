"""The shop in a real browser: catalog → cart → checkout → Snap popup (the sandbox's snap.js) →
the order page, which shows what the backend knows and follows it live.

Playwright drives Debian's chromium against the whole application served by uvicorn (conftest).
Screenshots of the main screens go to docs/screenshots/shop-*.png under `make screenshots`.
The shop is tested in Indonesian (a browser asking for it), the main flow in English too; the
expected words come from the catalogs (tests/support/words.py).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from livesupport import screenshot_dir
from words import LOCALES, words

from bayar.config import DEMO_SERVER_KEY, DEMO_XENDIT_SECRET_KEY

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import Browser, FrameLocator, Page, Route, ViewportSize
    from tests.storefront.conftest import Shop

pytestmark = pytest.mark.browser  # tests/conftest.py skips (or fails under CI) without chromium

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ORDER_URL = re.compile(r".*/orders/BYR-[0-9]{8}-[0-9A-F]{10}$")


@pytest.fixture
def language() -> str:
    return "id"


@pytest.fixture
def say(language: str) -> Callable[..., str]:
    return words(language)


@pytest.fixture
def page(browser: Browser, problems: list[str], language: str) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALES[language])
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    yield tab
    context.close()
    assert problems == []


def open_shop(page: Page, shop: Shop, query: str = "") -> None:
    page.goto(f"{shop.url}/{query}")
    page.wait_for_selector("html[data-shop-ready]")


def add(page: Page, product_id: str, quantity: int = 1) -> None:
    card = page.locator(f"[data-product-id='{product_id}']")
    card.locator("[data-add]").click()
    for _ in range(quantity - 1):
        card.locator("[data-inc]").click()
    assert card.locator("[data-qty]").inner_text() == str(quantity)


def fill_checkout(page: Page) -> None:
    page.fill("#f-name", "Budi Santoso")
    page.fill("#f-email", "budi@example.com")
    page.fill("#f-phone", "0812 3456 7890")


def press_pay(page: Page) -> dict[str, Any]:
    """Press Pay; the created transaction as the API answered it."""
    with page.expect_response("**/api/payments/create-transaction") as answer:
        page.click("[data-pay]")
    created: dict[str, Any] = answer.value.json()
    assert answer.value.status in (200, 201), created
    return created


def popup(page: Page) -> FrameLocator:
    frame = page.frame_locator("iframe#snap-midtrans")
    frame.locator("[data-view='choose'] h2").wait_for()
    return frame


def choose_bca(frame: FrameLocator) -> str:
    frame.locator("[data-group='bank']").click()
    frame.locator("[data-method='bca_va']").click()
    va = frame.locator("#va-number")
    va.filter(has_text=re.compile(r"\d")).wait_for()
    number: str = va.inner_text().strip()
    return number


def order_id_of(page: Page) -> str:
    return str(page.url.rsplit("/", 1)[1])


def track_navigation(page: Page) -> list[str]:
    """URLs the page's main frame navigates to from now on."""
    seen: list[str] = []
    page.on(
        "framenavigated", lambda frame: seen.append(frame.url) if frame == page.main_frame else None
    )
    page.evaluate("window.__stillHere = true")
    return seen


def shoot(page: Page, name: str) -> None:
    page.mouse.move(0, 0)  # no hover effects
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(300)  # transitions and the status icon's animation settle
    page.screenshot(path=str(screenshot_dir() / name))


@pytest.mark.parametrize("language", ["id", "en"])
def test_shop_to_cart_to_qris_in_the_popup_ends_paid(
    page: Page, shop: Shop, language: str, say: Callable[..., str]
) -> None:
    # The README's pictures are the Indonesian ones; the English shop is shown once.
    pictures = language == "id"
    open_shop(page, shop)
    assert page.locator("html").get_attribute("lang") == language
    cola = page.locator("[data-product-id='cola']")
    assert cola.locator(".product-price").inner_text() == "Rp 7.000"
    in_stock = re.escape(say("{n} in stock")).replace(r"\{n\}", r"\d+")
    assert re.fullmatch(in_stock, cola.locator(".product-stock").inner_text())
    assert page.locator("[data-cart-count]").inner_text() == "0"
    shoot(page, "shop-catalog.png" if pictures else "shop-catalog-en.png")

    add(page, "cola", 2)
    add(page, "lemon")
    assert page.locator("[data-cart-count]").inner_text() == "3"
    assert page.locator("[data-cart-total]").inner_text() == "Rp 24.000"
    assert page.locator("[data-pay]").inner_text() == say("Pay {amount}", amount="Rp 24.000")
    lines = page.locator("[data-cart-lines] .cart-line")
    assert lines.count() == 2
    assert "Rp 14.000" in lines.nth(0).inner_text()
    fill_checkout(page)
    page.evaluate("window.scrollTo(0, 0)")
    if pictures:
        shoot(page, "shop-cart.png")

    with page.expect_request("**/api/payments/create-transaction") as sent:
        created = press_pay(page)
    request = sent.value
    assert request.post_data is not None  # narrows the type: a POST with a body
    body = json.loads(request.post_data)
    assert body["items"] == [
        {"product_id": "cola", "quantity": 2},
        {"product_id": "lemon", "quantity": 1},
    ]
    assert body["payment_type"] == "snap"
    assert body["finish_url"] == f"{shop.url}/orders/finish"
    assert body["customer"] == {
        "first_name": "Budi",
        "last_name": "Santoso",
        "email": "budi@example.com",
        "phone": "081234567890",
    }
    assert request.headers["idempotency-key"].startswith("shop-")
    assert created["gross_amount"] == 24000

    frame = popup(page)
    assert frame.locator("#amount").inner_text() == "Rp 24.000"
    # snap.js was given the shop's language: the popup speaks it
    expect_lang = page.frame(name="snap-midtrans")
    assert expect_lang is not None
    assert expect_lang.evaluate("document.documentElement.lang") == language
    frame.locator("[data-method='qris']").click()
    frame.locator("#qr-image").wait_for(state="visible")
    snap_frame = page.frame(name="snap-midtrans")
    assert snap_frame is not None  # narrows the type: the popup's frame is there
    snap_frame.wait_for_function(
        "() => { const img = document.getElementById('qr-image');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    frame.locator("#countdown-value").filter(has_text=":").wait_for()
    if pictures:
        shoot(page, "shop-popup.png")

    frame.locator("#simulate-btn").click()
    page.wait_for_url(f"{shop.url}/orders/{created['order_id']}")
    page.wait_for_selector("[data-order-root][data-status='paid']")
    assert page.locator("[data-title]").inner_text() == say("Payment received")
    assert page.locator("[data-chip]").inner_text().lower() == say("paid")
    assert page.locator(".receipt").inner_text().count("QRIS") == 1
    assert shop.order(created["order_id"])["status"] == "paid"
    assert DEMO_SERVER_KEY not in page.content()
    if pictures:
        shoot(page, "shop-order-paid.png")

    # The cart became the order: the shop starts empty again and lists the order.
    open_shop(page, shop)
    assert page.locator("[data-cart-count]").inner_text() == "0"
    assert created["order_id"] in page.locator("[data-recent]").inner_text()


def test_bank_transfer_pending_then_paid_at_the_atm_updates_live(
    page: Page, shop: Shop, browser: Browser, say: Callable[..., str]
) -> None:
    open_shop(page, shop)
    add(page, "air-mineral", 3)
    fill_checkout(page)
    created = press_pay(page)
    frame = popup(page)
    number = choose_bca(frame)
    frame.locator("#pending-back").click()  # back to the merchant: onPending

    page.wait_for_url(ORDER_URL)
    assert order_id_of(page) == created["order_id"]
    page.locator("[data-field='va_number']").filter(has_text=number).wait_for()
    assert page.locator("[data-order-root]").get_attribute("data-status") == "pending"
    assert page.locator("[data-instr='va']").is_visible()
    assert page.locator("[data-title]").inner_text() == say("Waiting for your payment")
    assert page.locator("[data-field='bank']").first.inner_text() == "BCA"
    assert page.locator("[data-field='method']").first.inner_text() == "BCA Virtual Account"
    assert re.fullmatch(r"\d+:\d\d(:\d\d)?", page.locator("[data-countdown]").inner_text())
    shoot(page, "shop-order-pending.png")

    # The customer pays the VA at "the ATM": the sandbox simulator's pay-by-code page.
    navigations = track_navigation(page)
    atm = page.context.new_page()
    atm.goto(f"{shop.url}/sandbox/pay-code")
    atm.fill("#code", number)
    atm.get_by_role("button", name=say("Find payment")).click()
    atm.locator("[data-testid='code-result'] button[value='pay']").click()
    # Closed while its navigation commits, Chromium can drop the close and Playwright waits for
    # ever (crbug.com/536385539, microsoft/playwright#41900): let the result page load first.
    atm.wait_for_url("**/sandbox/result/**")
    atm.wait_for_load_state()
    atm.close()

    page.wait_for_selector("[data-order-root][data-status='paid']")
    assert page.locator("[data-title]").inner_text() == say("Payment received")
    assert page.locator("[data-panel='pending']").is_hidden()
    assert page.evaluate("window.__stillHere") is True  # no reload
    assert navigations == []
    assert shop.order(created["order_id"])["status"] == "paid"


def test_a_denied_payment_ends_on_the_failed_page(
    page: Page, shop: Shop, say: Callable[..., str]
) -> None:
    open_shop(page, shop)
    add(page, "kopi-susu")
    add(page, "teh-manis", 2)
    fill_checkout(page)
    created = press_pay(page)
    choose_bca(popup(page))
    # The bank declines while the popup is open: Snap reports it (onError), the shop opens the
    # order page, and the page asks the backend.
    httpx.post(f"{shop.control}/{created['order_id']}/deny").raise_for_status()
    page.wait_for_url(ORDER_URL, timeout=20_000)
    page.wait_for_selector("[data-order-root][data-status='failed']")
    assert page.locator("[data-title]").inner_text() == say("Payment failed")
    assert page.locator("[data-panel='failed']").is_visible()
    assert page.locator("[data-shop-again]").get_attribute("href") == "/"
    shoot(page, "shop-order-failed.png")

    # "Order again": the cart is still there for a new attempt, which makes a new order.
    page.click("[data-shop-again]")
    page.wait_for_selector("html[data-shop-ready]")
    assert page.locator("[data-cart-count]").inner_text() == "3"
    before = shop.order_count()
    retry = press_pay(page)
    assert retry["order_id"] != created["order_id"]
    assert shop.order_count() == before + 1
    popup(page).locator("#close-btn").click()


def test_an_expired_payment_turns_the_page_to_expired(
    page: Page, shop: Shop, say: Callable[..., str]
) -> None:
    open_shop(page, shop)
    add(page, "jeruk")
    fill_checkout(page)
    created = press_pay(page)
    frame = popup(page)
    choose_bca(frame)
    frame.locator("#pending-back").click()
    page.wait_for_url(ORDER_URL)
    page.wait_for_selector("[data-instr='va']:not([hidden])")
    navigations = track_navigation(page)

    httpx.post(f"{shop.control}/{created['order_id']}/expire").raise_for_status()
    page.wait_for_selector("[data-order-root][data-status='expired']")
    assert page.locator("[data-title]").inner_text() == say("Payment expired")
    assert page.locator("[data-message]").inner_text() == say(
        "The time to pay ran out. Nothing was charged. "
        "Order again to get a new payment; your cart is kept."
    )
    assert page.locator("[data-shop-again]").is_visible()
    assert navigations == []


def test_redirect_mode_pays_on_the_payment_page_and_comes_back(
    page: Page, shop: Shop, say: Callable[..., str]
) -> None:
    open_shop(page, shop, "?mode=redirect")
    assert page.locator("[data-pay-note]").inner_text().strip() == say(
        "You will pay on the secure payment page and come back here."
    )
    add(page, "lemon", 2)
    fill_checkout(page)
    before = shop.order_count()
    page.click("[data-pay]")
    page.wait_for_url(re.compile(r".*/sandbox/midtrans/snap/v2/vtweb/.*"))
    assert shop.order_count() == before + 1
    newest = shop.sql("SELECT id FROM orders ORDER BY created_at DESC LIMIT 1")[0][0]
    created = shop.order(newest)
    assert page.url == f"{created['payment']['redirect_url']}?language=id"  # in the shop's language
    page.locator("[data-method='qris']").click()
    page.locator("#simulate-btn").click()
    # Snap returns to finish_url (/orders/finish?order_id=…), which opens the order's page.
    page.wait_for_url(f"{shop.url}/orders/{created['order_id']}", timeout=20_000)
    page.wait_for_selector("[data-order-root][data-status='paid']")
    assert page.locator("[data-title]").inner_text() == say("Payment received")


def test_with_xendit_the_shop_pays_on_the_invoice_page_and_comes_back(
    page: Page, xendit_shop: Shop, say: Callable[..., str]
) -> None:
    shop = xendit_shop
    open_shop(page, shop)
    add(page, "lemon", 2)
    fill_checkout(page)
    page.click("[data-pay]")
    page.wait_for_url(re.compile(r".*/sandbox/xendit/.*"))
    newest = shop.sql("SELECT id FROM orders ORDER BY created_at DESC LIMIT 1")[0][0]
    created = shop.order(newest)
    assert page.url == created["payment"]["invoice_url"]
    assert page.get_by_test_id("amount").inner_text() == "Rp 20.000"
    page.get_by_test_id("method-BCA").check()
    page.get_by_test_id("pay").click()
    # The invoice's success URL is the finish page, which opens the order's page.
    page.wait_for_url(f"{shop.url}/orders/{created['order_id']}", timeout=20_000)
    page.wait_for_selector("[data-order-root][data-status='paid']")
    assert page.locator("[data-title]").inner_text() == say("Payment received")
    assert "BCA Virtual Account" in page.locator(".receipt").inner_text()
    order = shop.order(created["order_id"])
    assert (order["status"], order["payment"]["payment_type"]) == ("paid", "bank_transfer")
    assert DEMO_XENDIT_SECRET_KEY not in page.content()


def test_closing_the_popup_keeps_the_cart_and_pay_reopens_the_same_order(
    page: Page, shop: Shop, say: Callable[..., str]
) -> None:
    open_shop(page, shop)
    add(page, "cola")
    fill_checkout(page)
    before = shop.order_count()
    created = press_pay(page)
    popup(page).locator("#close-btn").click()

    notice = page.locator("[data-notice]")
    unfinished = say("Payment not finished — you can pay later from the order page.")
    notice.filter(has_text=unfinished).wait_for()
    link = notice.locator("[data-link='order']")
    assert link.get_attribute("href") == f"/orders/{created['order_id']}"
    redirect = notice.locator("[data-link='redirect']")
    # Snap's redirect mode in the shop's language
    assert redirect.get_attribute("href") == f"{created['payment']['redirect_url']}?language=id"
    assert page.url == f"{shop.url}/"
    assert page.locator("[data-cart-count]").inner_text() == "1"
    assert page.locator("[data-pay]").is_enabled()

    again = press_pay(page)  # the same attempt: the same order, its popup again
    assert again["order_id"] == created["order_id"]
    assert again["payment"]["token"] == created["payment"]["token"]
    assert shop.order_count() == before + 1
    popup(page).locator("#close-btn").click()
    notice.filter(has_text=unfinished).wait_for()

    # The order page can continue it later.
    link.click()
    page.wait_for_url(ORDER_URL)
    assert page.locator("[data-instr='snap']").is_visible()
    assert page.locator("[data-field='method']").first.inner_text() == say("Not chosen yet")


def test_double_click_and_a_lost_answer_never_make_two_orders(
    page: Page, shop: Shop, problems: list[str], say: Callable[..., str]
) -> None:
    open_shop(page, shop)
    add(page, "air-mineral")
    fill_checkout(page)
    before = shop.order_count()
    keys: list[str] = []

    def lose_first_answer(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server makes the order; the answer never reaches the page
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/payments/create-transaction", lose_first_answer)
    page.locator("[data-pay]").dblclick()
    unreachable = say(
        "We could not reach the shop. Check your connection and press Pay again: you will not"
        " be charged twice."
    )
    page.locator("[data-notice]").filter(has_text=unreachable).wait_for()
    assert len(keys) == 1  # the double click sent one request
    assert shop.order_count() == before + 1

    created = press_pay(page)  # pressing Pay again retries the same attempt
    assert keys[1] == keys[0]
    assert shop.order_count() == before + 1
    popup(page).locator("#close-btn").click()
    assert shop.order(created["order_id"])["status"] == "pending"
    # The lost answer shows in chromium's console as a failed load; nothing else may.
    assert all("ERR_CONNECTION_RESET" in problem for problem in problems), problems
    problems.clear()


def test_quantity_is_limited_by_stock_and_sold_out_cannot_be_added(
    page: Page, shop: Shop, say: Callable[..., str]
) -> None:
    shop.sql("UPDATE products SET stock = 2 WHERE id = 'jeruk'")
    shop.sql("UPDATE products SET stock = 0 WHERE id = 'teh-manis'")
    try:
        open_shop(page, shop)
        jeruk = page.locator("[data-product-id='jeruk']")
        assert jeruk.locator(".product-stock").inner_text() == say("Only {n} left", n=2)
        add(page, "jeruk", 2)
        assert jeruk.locator("[data-inc]").is_disabled()
        assert say("That is all we have in stock.") in jeruk.inner_text()
        cart_line = page.locator("[data-line='jeruk']")
        assert cart_line.locator("[data-inc]").is_disabled()
        teh = page.locator("[data-product-id='teh-manis']")
        assert teh.locator("[data-add]").is_disabled()
        assert teh.locator("[data-add]").inner_text() == say("Sold out")

        # Stock drops while the cart is open: a reload trims the cart to what is left.
        shop.sql("UPDATE products SET stock = 1 WHERE id = 'jeruk'")
        open_shop(page, shop)
        assert page.locator("[data-line='jeruk'] [data-qty]").inner_text() == "1"
        assert page.locator("[data-cart-count]").inner_text() == "1"
    finally:
        shop.sql("UPDATE products SET stock = 50 WHERE id IN ('jeruk', 'teh-manis')")


def test_checkout_form_is_validated_before_anything_is_sent(
    page: Page, shop: Shop, say: Callable[..., str]
) -> None:
    open_shop(page, shop)
    add(page, "cola")
    sent: list[str] = []
    page.on(
        "request",
        lambda request: sent.append(request.url) if "create-transaction" in request.url else None,
    )
    page.click("[data-pay]")
    assert page.locator("[data-error-for='name']").inner_text() == say("Please enter your name.")
    assert page.locator("[data-error-for='email']").is_visible()
    assert page.locator("[data-error-for='phone']").is_visible()
    assert page.evaluate("document.activeElement.id") == "f-name"
    page.fill("#f-name", "Siti")
    page.fill("#f-email", "siti@example")
    page.fill("#f-phone", "12ab")
    page.click("[data-pay]")
    assert page.locator("[data-error-for='email']").inner_text() == say(
        "That email address does not look right."
    )
    assert page.locator("[data-error-for='phone']").inner_text() == say(
        "Use digits only, e.g. 0812 3456 7890 or +62 812 3456 7890."
    )
    assert page.locator("#f-email").get_attribute("aria-invalid") == "true"
    # Digits, but too few: the message says so (issue 11, item 9).
    page.fill("#f-phone", "0812")
    page.click("[data-pay]")
    assert page.locator("[data-error-for='phone']").inner_text() == say(
        "That number is too short: a phone number has at least 8 digits, e.g. 0812 3456 7890."
    )
    page.wait_for_timeout(200)
    assert sent == []


def test_order_page_continues_a_snap_payment_and_updates_in_place(page: Page, shop: Shop) -> None:
    created = shop.create(payment_type="snap", items=[{"product_id": "cola", "quantity": 1}])
    page.goto(f"{shop.url}/orders/{created['order_id']}")
    page.wait_for_selector("[data-order-root][data-live]")
    assert page.locator("[data-instr='snap']").is_visible()
    navigations = track_navigation(page)
    page.click("[data-continue]")
    frame = popup(page)
    frame.locator("[data-method='gopay']").click()
    frame.locator("#simulate-btn").click()
    page.wait_for_selector("[data-order-root][data-status='paid']")
    assert page.locator("[data-field='method']").first.inner_text() == "GoPay"
    assert page.evaluate("window.__stillHere") is True
    assert navigations == []


def test_core_api_qris_order_page_shows_a_scannable_qr(page: Page, shop: Shop) -> None:
    import zxingcpp
    from PIL import Image

    created = shop.create(payment_type="qris")
    page.goto(f"{shop.url}/orders/{created['order_id']}")
    page.wait_for_function(
        "() => { const img = document.querySelector('[data-qr]');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    image = Image.open(io.BytesIO(page.locator("[data-qr]").screenshot()))
    found = zxingcpp.read_barcodes(image)
    assert [code.text for code in found] == [created["payment"]["qr_string"]]

    # Paid from the sandbox: the page follows.
    httpx.post(f"{shop.control}/{created['order_id']}/pay").raise_for_status()
    page.wait_for_selector("[data-order-root][data-status='paid']")
    assert page.locator("[data-field='method']").first.inner_text() == "QRIS"
