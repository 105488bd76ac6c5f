"""The admin in a real browser (Debian's chromium through Playwright): the login, a refund that
reaches the sandbox, and the pages the README shows (the screenshots are taken here). In
Indonesian, as a browser asking for it gets it; the words from the catalogs (tests/support/
words.py). The catalog flow (test_catalog_browser.py) runs in English too."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from bayar_admin_testkit import ADMIN_TOKEN, MACHINE, PASSWORD, Bayar, in_thread
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from words import LOCALES, words

from bayar.storage.db import Database
from bayar.storage.models import Machine
from bayar.vending.machines import create_machine

VIEWPORT = {"width": 1280, "height": 800}
say = words("id")

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALES["id"])  # type: ignore[arg-type]
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, bayar: Bayar, path: str = "/admin") -> None:
    page.goto(f"{bayar.url}{path}")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label(say("Password")).fill(PASSWORD)
    page.get_by_role("button", name=say("Log in")).click()
    expect(page).to_have_url(f"{bayar.url}{path}")


def test_a_wrong_password_is_refused_then_the_right_one_lets_in(
    bayar: Bayar, page: Page, screenshots: Path
) -> None:
    page.goto(f"{bayar.url}/admin/login")
    expect(page.get_by_role("heading", name=say("Admin login"))).to_be_visible()
    page.screenshot(path=screenshots / "admin-login.png")

    page.get_by_label(say("Password")).fill("not-the-password")
    page.get_by_role("button", name=say("Log in")).click()
    expect(page.get_by_test_id("login-error")).to_have_text(say("Wrong password."))
    expect(page).to_have_url(f"{bayar.url}/admin/login")
    page.goto(f"{bayar.url}/admin/orders")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fadmin%2Forders$"))

    page.get_by_label(say("Password")).fill(PASSWORD)
    page.get_by_role("button", name=say("Log in")).click()
    expect(page).to_have_url(f"{bayar.url}/admin/orders")
    expect(page.get_by_role("heading", name=say("Orders"))).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "bayar_admin")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/admin"


def test_anonymous_browsing_ends_on_the_login(bayar: Bayar, page: Page) -> None:
    order_id = bayar.paid_order()
    for path in ("/admin", f"/admin/orders/{order_id}", "/admin/machines", "/admin/products"):
        page.goto(f"{bayar.url}{path}")
        expect(page.get_by_role("heading", name=say("Admin login"))).to_be_visible()
        # Nothing of the shop shows: no amount, and the order id only where to go after login.
        assert "Rp" not in page.inner_text("body")
        assert order_id not in page.inner_text("body")


def test_a_full_refund_from_the_order_page_reaches_the_sandbox(
    bayar: Bayar, page: Page, screenshots: Path
) -> None:
    order_id = bayar.paid_order("kopi-susu", 2)  # Rp 24.000
    log_in(page, bayar, f"/admin/orders/{order_id}")
    expect(page.get_by_test_id("order-status")).to_have_text(say("paid"))
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text(f"{say('pending')} → {say('paid')}")
    expect(timeline).to_contain_text("✓ " + say("signature valid"))

    form = page.get_by_test_id("refund-form")
    form.get_by_label(say("Reason")).fill("machine out of cups")
    form.get_by_role("button", name=say("Refund…")).click()
    # Every refund asks first: nothing has moved yet.
    expect(page.get_by_test_id("confirm-refund")).to_contain_text(
        say("Refund %(amount)s?", amount="Rp 24.000")
    )
    assert bayar.order(order_id)["status"] == "paid"
    page.get_by_role("button", name=say("Yes, refund %(amount)s", amount="Rp 24.000")).click()

    expect(page.get_by_test_id("flash")).to_have_text(
        say(
            "Refunded %(amount)s. The order is now %(status)s.",
            amount="Rp 24.000",
            status=say("refunded"),
        )
    )
    expect(page.get_by_test_id("order-status")).to_have_text(say("refunded"))
    expect(page.get_by_test_id("refund-form")).to_have_count(0)
    expect(page.get_by_test_id("refunds")).to_contain_text("machine out of cups")
    expect(timeline).to_contain_text(say("Gateway call: %(operation)s", operation="refund"))
    expect(timeline).to_contain_text(f"{say('paid')} → {say('refunded')}")
    assert bayar.order(order_id)["status"] == "refunded"
    gateway = bayar.gateway_status(order_id)
    assert gateway["transaction_status"] == "refund"
    assert gateway["refund_amount"] in ("24000.00", 24000, "24000")

    # The sandbox's refund notification arrives too (the page shows it once reloaded).
    deadline = time.monotonic() + 10
    while say("Notification: %(status)s", status="refund") not in timeline.inner_text():
        assert time.monotonic() < deadline, "no refund notification in the timeline"
        time.sleep(0.2)
        page.reload()
    settled = timeline.locator("li", has_text=say("Notification: %(status)s", status="settlement"))
    settled.get_by_text(say("Raw notification")).click()
    expect(settled.locator("pre")).to_contain_text('"transaction_status": "settlement"')
    settled.get_by_text(say("Raw notification")).click()  # closed again: the whole timeline fits
    expect(settled.locator("pre")).to_be_hidden()
    page.screenshot(path=screenshots / "admin-order.png")


def test_cancel_a_pending_order_from_the_page(bayar: Bayar, page: Page) -> None:
    order_id = bayar.create_order("teh-manis")
    log_in(page, bayar, f"/admin/orders/{order_id}")
    page.get_by_role("button", name=say("Cancel order")).click()
    expect(page.get_by_test_id("order-status")).to_have_text(say("cancelled"))
    assert bayar.order(order_id)["status"] == "cancelled"


def test_pages_for_the_readme(bayar: Bayar, page: Page, screenshots: Path) -> None:
    """Some of everything, then the dashboard, orders, machines and products pages."""
    for product, quantity in (("cola", 2), ("lemon", 1), ("kopi-susu", 3), ("jeruk", 1)):
        bayar.paid_order(product, quantity)
    bayar.paid_order("air-mineral", machine_id=MACHINE)
    refunded = bayar.paid_order("teh-manis", 2)
    answer = httpx.post(
        f"{bayar.url}/api/orders/{refunded}/refund",
        json={"amount": 5000, "reason": "one bottle was broken"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    cancelled = bayar.create_order("lemon", 2)
    httpx.post(
        f"{bayar.url}/api/orders/{cancelled}/cancel",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=20,
    ).raise_for_status()
    bayar.create_order("kopi-susu")
    second_machine(bayar)
    presence = bayar.app.state.context.presence
    in_thread(lambda: presence.connected(MACHINE, "readme-screenshot"))
    try:
        log_in(page, bayar)
        expect(page.get_by_test_id("sales-chart")).to_be_visible()
        expect(page.get_by_test_id("kpis")).to_contain_text(say("Last 30 days"))
        page.screenshot(path=screenshots / "admin-dashboard.png")

        page.get_by_role("link", name=say("Orders"), exact=True).click()
        page.get_by_label(say("Status")).select_option("paid")
        page.get_by_role("button", name=say("Filter")).click()
        expect(page).to_have_url(re.compile(r"status=paid"))
        statuses = page.locator("[data-testid=orders] tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.status)"
        )
        assert statuses
        assert set(statuses) == {"paid"}
        page.goto(f"{bayar.url}/admin/orders")
        page.screenshot(path=screenshots / "admin-orders.png")

        page.get_by_role("link", name=say("Machines")).click()
        demo = page.locator(f"#machine-{MACHINE}")
        expect(demo.get_by_test_id("online")).to_be_visible()
        row = demo.locator("tr[data-slot=A3]")
        row.get_by_role("spinbutton").fill("3")
        row.get_by_role("button", name=say("Set")).click()
        # "… slot A3: 3 of 10 …" in the page's words
        expect(page.get_by_test_id("flash")).to_contain_text("slot A3: 3 " + say("of %(n)s", n=10))
        expect(page.locator(f"#machine-{MACHINE} tr[data-slot=A3]")).to_contain_text("3/10")
        page.goto(f"{bayar.url}/admin/machines")
        page.screenshot(path=screenshots / "admin-machines.png")

        page.get_by_role("link", name=say("Products")).click()
        row = page.locator("tr[data-product=cola]")
        row.get_by_label(say("Price of %(name)s", name="Cola")).fill("7500")
        row.get_by_role("button", name=say("Save")).click()
        expect(page.get_by_test_id("flash")).to_contain_text("Cola: Rp 7.500")
        products = {p["id"]: p for p in httpx.get(f"{bayar.url}/api/products").json()}
        assert products["cola"]["price"] == 7500
        page.goto(f"{bayar.url}/admin/products")
        page.screenshot(path=screenshots / "admin-products.png")
    finally:
        in_thread(lambda: presence.disconnected(MACHINE, "readme-screenshot"))


def second_machine(bayar: Bayar) -> None:
    """A second kiosk, offline since this morning, some slots running low."""

    async def work(db: Database) -> None:
        async with db.session() as session:
            if await session.get(Machine, "stasiun-2") is not None:
                return
        await create_machine(
            db,
            "stasiun-2",
            "Kiosk Stasiun",
            "Gambir station, hall B",
            (("A1", "air-mineral", 2, 12), ("A2", "cola", 0, 12), ("B1", "kopi-susu", 7, 8)),
        )
        async with db.session() as session, session.begin():
            await session.execute(
                update(Machine)
                .where(Machine.id == "stasiun-2")
                .values(last_seen_at=datetime.now(UTC) - timedelta(hours=3, minutes=12))
            )
            await session.execute(
                update(Machine)
                .where(Machine.id == MACHINE)
                .values(last_seen_at=datetime.now(UTC) - timedelta(seconds=20))
            )

    bayar.run_db(work)
