"""The order page tells the customer the outcome in plain words, with what to do next (issue 11
item 6): paid, a declined card (the order still open for another card or method), an expired
payment and a cancelled order. Outcomes come from the sandbox as the gateway would send them: its
card charge (the Snap page's), and its control API (expire, cancel); the page follows live. Each
runs in Indonesian and in English (the page's words from the catalog, tests/support/words.py;
the browser's language picks the page's)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect
from words import LOCALES, words

from bayar.config import DEMO_CLIENT_KEY

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import Browser, Page
    from tests.storefront.conftest import Shop

pytestmark = pytest.mark.browser

DECLINED_CARD = "4711111111111115"  # the sandbox's bank declines it (sandbox/cards.py)
GOOD_CARD = "4411111111111118"


@pytest.fixture(params=["id", "en"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def page(browser: Browser, problems: list[str], language: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=LOCALES[language])
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield tab
    context.close()
    assert problems == []


def pay_by_card(shop: Shop, snap_token: str, card_number: str) -> str:
    """What the customer does on the Snap page: tokenize a test card and pay with it."""
    tokenized = httpx.get(
        f"{shop.url}/sandbox/midtrans/v2/token",
        params={
            "client_key": DEMO_CLIENT_KEY,
            "card_number": card_number,
            "card_exp_month": "12",
            "card_exp_year": str(datetime.now(UTC).year + 2),
            "card_cvv": "123",
        },
        timeout=15,
    )
    tokenized.raise_for_status()
    charged = httpx.post(
        f"{shop.url}/sandbox/midtrans/snap/v2/vtweb/{snap_token}/charge",
        json={"payment_type": "credit_card", "token_id": tokenized.json()["token_id"]},
        timeout=15,
    )
    charged.raise_for_status()
    status: str = charged.json()["transaction_status"]
    return status


def open_order(page: Page, shop: Shop, order_id: str) -> None:
    page.goto(f"{shop.url}/orders/{order_id}")
    page.wait_for_selector("[data-order-root][data-live]")


def test_a_declined_card_says_so_and_another_card_pays(
    page: Page, shop: Shop, language: str
) -> None:
    say = words(language)
    created = shop.create(payment_type="snap", items=[{"product_id": "cola", "quantity": 1}])
    open_order(page, shop, created["order_id"])
    assert page.locator("html").get_attribute("lang") == language
    expect(page.locator("[data-title]")).to_have_text(say("Waiting for your payment"))

    assert pay_by_card(shop, created["payment"]["token"], DECLINED_CARD) == "deny"
    page.wait_for_selector("[data-order-root][data-declined='1']")
    expect(page.locator("[data-title]")).to_have_text(say("Your card was declined"))
    expect(page.locator("[data-message]")).to_have_text(
        say(
            "Nothing was charged. Try another card, or choose another payment method below, "
            "before the time runs out."
        )
    )
    expect(page.locator("[data-continue]")).to_have_text(say("Try another card or method"))
    expect(page.locator("[data-instr='snap']")).to_be_visible()
    assert page.locator("[data-order-root]").get_attribute("data-status") == "pending"

    page.reload()  # the server-rendered page says the same
    expect(page.locator("[data-title]")).to_have_text(say("Your card was declined"))
    expect(page.locator("[data-continue]")).to_have_text(say("Try another card or method"))

    assert pay_by_card(shop, created["payment"]["token"], GOOD_CARD) == "capture"
    page.wait_for_selector("[data-order-root][data-status='paid']")
    expect(page.locator("[data-title]")).to_have_text(say("Payment received"))
    assert page.locator("[data-order-root]").get_attribute("data-declined") == "0"
    expect(page.locator("[data-panel='paid']")).to_be_visible()


def test_an_expired_payment_says_order_again(page: Page, shop: Shop, language: str) -> None:
    say = words(language)
    created = shop.create(payment_type="bank_transfer", bank="bca")
    open_order(page, shop, created["order_id"])
    assert page.locator("html").get_attribute("lang") == language
    httpx.post(f"{shop.control}/{created['order_id']}/expire", timeout=15).raise_for_status()
    page.wait_for_selector("[data-order-root][data-status='expired']")
    expect(page.locator("[data-title]")).to_have_text(say("Payment expired"))
    expect(page.locator("[data-message]")).to_have_text(
        say(
            "The time to pay ran out. Nothing was charged. "
            "Order again to get a new payment; your cart is kept."
        )
    )
    expect(page.locator("[data-shop-again]")).to_have_text(say("Order again"))
    expect(page.locator("[data-panel='pending']")).to_be_hidden()


def test_a_cancelled_order_says_so(page: Page, shop: Shop, language: str) -> None:
    say = words(language)
    created = shop.create(payment_type="bank_transfer", bank="bni")
    open_order(page, shop, created["order_id"])
    assert page.locator("html").get_attribute("lang") == language
    httpx.post(f"{shop.control}/{created['order_id']}/cancel", timeout=15).raise_for_status()
    page.wait_for_selector("[data-order-root][data-status='cancelled']")
    expect(page.locator("[data-title]")).to_have_text(say("Order cancelled"))
    expect(page.locator("[data-message]")).to_have_text(
        say("This order was cancelled. Nothing was charged. Order again if you still want it.")
    )
    expect(page.locator("[data-shop-again]")).to_be_visible()


def test_a_declined_bank_payment_fails_the_order_with_what_to_do(
    page: Page, shop: Shop, language: str
) -> None:
    say = words(language)
    created = shop.create(payment_type="bank_transfer", bank="bca")
    open_order(page, shop, created["order_id"])
    assert page.locator("html").get_attribute("lang") == language
    httpx.post(f"{shop.control}/{created['order_id']}/deny", timeout=15).raise_for_status()
    page.wait_for_selector("[data-order-root][data-status='failed']")
    expect(page.locator("[data-title]")).to_have_text(say("Payment failed"))
    expect(page.locator("[data-message]")).to_have_text(
        say(
            "The payment was declined. Nothing was charged. "
            "Order again and pay with another card or another payment method."
        )
    )
    expect(page.locator("[data-shop-again]")).to_have_text(say("Order again"))
