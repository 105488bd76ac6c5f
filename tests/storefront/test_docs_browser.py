"""`/docs` in a real browser: Swagger UI reads bayar's OpenAPI document (3.1) and opens an
operation, with nothing from the internet and no error on the page (issue 11, item 3), for an
Indonesian browser and an English one alike. The page is the same for both, in English (its
`<html lang>` says so): the API reference is one document, `/openapi.json`, which code generators
and clients read, so it does not vary with the reader's language (api/docs.py says why)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect
from words import LOCALES

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import Browser, Page, Route
    from tests.storefront.conftest import Shop

pytestmark = pytest.mark.browser


@pytest.fixture
def site(shop: Shop) -> str:
    return shop.url


@pytest.fixture(params=["id", "en"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def page(browser: Browser, problems: list[str], site: str, language: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=LOCALES[language])
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )

    # Anything not served by bayar itself would be a CDN: refuse it, and say so.
    def only_bayar(route: Route) -> None:
        if route.request.url.startswith(site):
            route.continue_()
        else:
            problems.append(f"outside request: {route.request.url}")
            route.abort()

    tab.route("**/*", only_bayar)
    yield tab
    context.close()
    assert problems == []


def test_docs_render_every_operation_and_open_one(page: Page, site: str) -> None:
    page.goto(f"{site}/docs")
    page.wait_for_selector(".opblock")
    assert page.locator("html").get_attribute("lang") == "en"

    assert page.locator("text=Unable to render this definition").count() == 0
    assert page.locator(".errors-wrapper").count() == 0
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text().strip().lower(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.locator(".opblock").all()
    }
    openapi = page.request.get(f"{site}/openapi.json").json()
    assert openapi["openapi"].startswith("3.1")
    documented = {
        (method, path) for path, operations in openapi["paths"].items() for method in operations
    }
    assert shown == documented

    create = page.locator(
        ".opblock", has=page.locator("[data-path='/api/payments/create-transaction']")
    )
    create.locator(".opblock-summary").first.click()
    body = create.locator(".opblock-body")
    # Swagger UI fills the opened operation's body in more than one render: wait for each part.
    expect(
        body.locator(".opblock-section-request-body, .parameters-container").first
    ).to_be_visible()
    expect(body.locator(".responses-wrapper")).to_be_visible()
    expect(body.locator(".responses-table").first).to_contain_text("201")


def test_the_api_reference_is_one_document_in_every_language(site: str) -> None:
    """`/openapi.json` is the same whatever language the reader asks for (see api/docs.py)."""
    documents = [
        httpx.get(f"{site}/openapi.json", headers=headers, timeout=15)
        for headers in ({}, {"Accept-Language": "id-ID"}, {"Accept-Language": "en-US"})
    ]
    assert all(d.status_code == 200 for d in documents)
    assert documents[0].content == documents[1].content == documents[2].content
    for lang in ("id", "en"):
        page = httpx.get(f"{site}/docs?lang={lang}", timeout=15)
        assert '<html lang="en">' in page.text
