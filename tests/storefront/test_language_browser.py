"""The language toggle in a real browser: an Indonesian browser gets the shop in Indonesian, one
tap on "English" turns it (and the next pages) English, and the choice outlives the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import Browser, Page
    from tests.storefront.conftest import Shop

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="id-ID")
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def test_indonesian_first_english_one_tap_away(page: Page, shop: Shop) -> None:
    page.goto(f"{shop.url}/")
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.locator("h1").inner_text() == "Minuman dingin, siap kapan pun kamu mau"
    assert page.locator("[data-product-id='cola'] .product-price").inner_text() == "Rp 7.000"
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**/?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Cold drinks, ready when you are"
    page.goto(f"{shop.url}/orders/BYR-NONE")  # the choice is remembered, not in the address
    assert page.locator("h1").inner_text() == "Order not found"
    page.get_by_role("link", name="Bahasa Indonesia").click()
    assert page.locator("h1").inner_text() == "Pesanan tidak ditemukan"
