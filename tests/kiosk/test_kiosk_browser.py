"""The kiosk page (`/kiosk/{machine_id}`) in a real browser against a live bayar.

Playwright drives Debian's chromium. Every test starts its own bayar (sandbox mounted, worker
running, SQLite under tmp_path), pays or fails through the sandbox's control API as a customer's
e-wallet would, and waits on `<body data-screen="…">`. Screenshots of each screen are written to
docs/screenshots/kiosk-*.png under `make screenshots` (1024x600, the smallest kiosk screen, and one at 1920x1080).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import zxingcpp
from livesupport import ServeProcess, clean_env, free_port, screenshot_dir
from PIL import Image

from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, WebSocketRoute
    from tests.kiosk.conftest import KioskServer

pytestmark = pytest.mark.browser  # tests/conftest.py skips (or fails under CI) without chromium

SMALL: ViewportSize = {"width": 1024, "height": 600}
LARGE: ViewportSize = {"width": 1920, "height": 1080}
SETTLE_MS = 700  # screen transitions and entrance animations


def _is_kiosk_socket(url: str) -> bool:
    return "/ws/kiosk/" in url


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def new_page(browser: Browser, problems: list[str]) -> Iterator[Callable[..., Page]]:
    contexts: list[BrowserContext] = []

    def make(viewport: ViewportSize | None = None) -> Page:
        context = browser.new_context(viewport=viewport or SMALL, has_touch=True)
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        return tab

    yield make
    for context in contexts:
        context.close()
    assert problems == []


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


# ------------------------------------------------------------------------------------ helpers


def wait_screen(page: Page, name: str, timeout: float = 15_000) -> None:
    page.wait_for_selector(f'body[data-screen="{name}"]', state="attached", timeout=timeout)


def screen(page: Page) -> str:
    return str(page.evaluate("document.body.dataset.screen"))


def shot(page: Page, name: str) -> None:
    page.wait_for_timeout(SETTLE_MS)
    page.screenshot(path=str(screenshot_dir() / f"kiosk-{name}.png"))


def events(page: Page, name: str | None = None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = page.evaluate("window.bayarKiosk.events")
    return [e for e in got if name is None or e["event"] == name]


def sent(page: Page, name: str | None = None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = page.evaluate("window.bayarKiosk.sent")
    return [e for e in got if name is None or e["event"] == name]


def open_home(page: Page, url: str) -> None:
    page.goto(url)
    wait_screen(page, "home")
    page.wait_for_function("window.bayarKiosk.connected && window.bayarKiosk.events.length > 0")


def pick(page: Page, product_id: str) -> str:
    """Tap home, pick a drink, wait for its QR; the order id."""
    if screen(page) == "home":
        page.locator("#screen-home").click(position={"x": 500, "y": 420})
        wait_screen(page, "menu")
    page.locator(f'.card[data-product-id="{product_id}"]').click()
    wait_screen(page, "payment")
    order_id = str(page.evaluate("window.bayarKiosk.orderId"))
    assert order_id
    assert order_id != "None"
    return order_id


def decode_qr(page: Page) -> str:
    """The QR on screen, read back from its pixels like a phone would."""
    png = page.locator("#qr-box").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "no QR code found in the screenshot of #qr-box"
    return str(found[0].text)


# ------------------------------------------------------------------------------------ the flow


def test_buy_a_drink_from_tap_to_enjoy(page: Page, kiosk_server: KioskServer) -> None:
    server = kiosk_server
    server.set_stock("demo-1", "B3", 0)  # one sold-out slot, to show and to check
    held: list[str] = []
    hold = {"orders": True}
    upstream: dict[str, Any] = {}

    def route(
        ws: WebSocketRoute,
    ) -> None:  # pass everything through, but hold the first ORDER a moment
        remote = ws.connect_to_server()
        upstream["ws"] = remote

        def from_page(message: str | bytes) -> None:
            if hold["orders"] and '"ORDER"' in str(message):
                held.append(str(message))
            else:
                remote.send(message)

        ws.on_message(from_page)

    page.route_web_socket(_is_kiosk_socket, route)
    open_home(page, server.kiosk_url(idle="30,2"))
    assert page.locator("#machine-name").inner_text() == "Demo Kiosk"
    assert "Ketuk untuk membeli" in page.locator("#home-cta").inner_text()
    shot(page, "home")

    # tap → menu: cards with picture, name, price; the sold-out slot is disabled
    page.locator("#screen-home").click(position={"x": 900, "y": 300})
    wait_screen(page, "menu")
    cards = page.locator(".card")
    assert cards.count() == 6
    cola = page.locator('.card[data-product-id="cola"]')
    assert cola.locator(".card-name").inner_text() == "Cola"
    assert cola.locator(".card-price").inner_text() == "Rp 7.000"
    assert cola.locator("img").get_attribute("src") == "/static/products/cola.svg"
    jeruk = page.locator('.card[data-product-id="jeruk"]')
    assert jeruk.is_disabled()
    assert page.evaluate(
        "Array.from(document.querySelectorAll('.card img')).every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, "menu")  # (settles the cards' entrance first)
    for box in (cards.nth(i).bounding_box() for i in range(6)):  # all on screen, large targets
        assert box is not None
        assert box["height"] >= 150
        assert box["width"] >= 150
        assert box["x"] >= 0
        assert box["y"] >= 0
        assert box["x"] + box["width"] <= 1024
        assert box["y"] + box["height"] <= 600
    jeruk.click(force=True)  # a disabled card does nothing
    assert screen(page) == "menu"
    assert not sent(page, "ORDER")

    # pick → "creating your payment" (the ORDER is held so the screen can be seen)
    cola.click()
    wait_screen(page, "creating")
    assert "Membuat pembayaran" in page.locator("#screen-creating").inner_text()
    shot(page, "creating")
    hold["orders"] = False
    assert len(held) == 1
    upstream["ws"].send(held.pop())

    # the QR, drawn by bayar from the order's qr_string
    wait_screen(page, "payment")
    order_id = str(page.evaluate("window.bayarKiosk.orderId"))
    order = server.order(order_id)
    assert order["status"] == "pending"
    qr_string = order["payment"]["qr_string"]
    assert qr_string
    page.wait_for_timeout(SETTLE_MS)
    assert decode_qr(page) == qr_string
    assert order_id in server.scan_at_sandbox(decode_qr(page))  # the sandbox issued this QR
    assert page.locator("#payment-price").inner_text() == "Rp 7.000"
    assert page.locator("#screen-payment .order-name").inner_text() == "Cola"
    first = page.locator("#countdown-time").inner_text()
    assert re.fullmatch(r"1[45]:\d\d", first), first
    page.wait_for_timeout(1300)
    assert page.locator("#countdown-time").inner_text() != first  # live
    order_frames = sent(page, "ORDER")
    assert len(order_frames) == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", order_frames[0]["values"]["request_id"])
    cancel_box = page.locator("#payment-cancel").bounding_box()
    assert cancel_box is not None  # narrows the type: the button is on screen
    assert cancel_box["height"] >= 56
    shot(page, "payment")

    # the customer pays → payment received → dispensing → enjoy → home
    server.control(order_id, "pay")
    wait_screen(page, "paid")
    assert "Pembayaran diterima" in page.locator("#screen-paid").inner_text()
    shot(page, "paid")
    wait_screen(page, "dispensing")
    shot(page, "dispensing")
    wait_screen(page, "done")
    assert "Selamat menikmati" in page.locator("#screen-done").inner_text()
    shot(page, "done")
    assert server.wait_status(order_id, "fulfilled")["status"] == "fulfilled"
    dispense = events(page, "DISPENSE")
    assert len(dispense) == 1
    assert dispense[0]["values"]["order_id"] == order_id
    results = sent(page, "DISPENSE_RESULT")
    assert [r["values"]["ok"] for r in results] == [True]
    assert results[0]["values"]["dispense_id"] == dispense[0]["values"]["dispense_id"]
    assert page.evaluate("window.bayarKiosk.dispenser.executed.length") == 1

    wait_screen(page, "home", timeout=6000)  # ?idle=…,2: the final screen goes home by itself


def test_with_xendit_a_qris_payment_request_sells_the_drink(
    page: Page, kiosk_server_factory: Callable[..., KioskServer]
) -> None:
    server = kiosk_server_factory(bayar_gateway="xendit")
    open_home(page, server.kiosk_url(idle="30,2"))
    order_id = pick(page, "cola")
    order = server.order(order_id)
    qr_string = order["payment"]["qr_string"]
    assert order["payment"]["transaction_id"].startswith("pr-")  # a Xendit payment request
    page.wait_for_timeout(SETTLE_MS)
    assert decode_qr(page) == qr_string
    paid = httpx.post(f"{server.url}/sandbox/_control/xendit/{order_id}/pay", timeout=10)
    assert paid.status_code == 200, paid.text
    wait_screen(page, "done")
    assert server.wait_status(order_id, "fulfilled")["status"] == "fulfilled"
    assert len(events(page, "DISPENSE")) == 1


def test_cancel_on_the_qr_screen(page: Page, kiosk_server: KioskServer) -> None:
    server = kiosk_server
    open_home(page, server.kiosk_url(idle="30,2"))
    order_id = pick(page, "lemon")
    assert page.locator("#payment-price").inner_text() == "Rp 10.000"
    page.locator("#payment-cancel").click()
    wait_screen(page, "cancelled")
    assert "Pesanan dibatalkan" in page.locator("#message-title").inner_text()
    shot(page, "cancelled")
    assert server.wait_status(order_id, "cancelled")["status"] == "cancelled"
    assert server.gateway_status(order_id)["transaction_status"] == "cancel"
    wait_screen(page, "home", timeout=6000)


def test_cancel_raced_by_the_payment(
    page: Page, kiosk_server_factory: Callable[..., KioskServer]
) -> None:
    """The customer taps Cancel just as the payment lands: the drink is served, nothing cancelled.

    The route holds the payment's frames (PAYMENT_SUCCESS, DISPENSE) from the page until the
    server has handled the CANCEL. The server's ack timeout is not what is tested: the page only
    answers the held DISPENSE after the hold and its 1.5 s drop, so a short one would refund."""
    server = kiosk_server_factory()
    held: list[str | bytes] = []
    hold = {"on": False}
    upstream: dict[str, Any] = {}

    def route(ws: WebSocketRoute) -> None:
        remote = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if hold["on"] and json.loads(message)["event"] in ("PAYMENT_SUCCESS", "DISPENSE"):
                held.append(message)
            else:
                ws.send(message)

        def from_page(message: str | bytes) -> None:
            remote.send(message)
            if json.loads(message)["event"] == "CANCEL":
                # The server reads a socket's frames one by one: its SHOW_MENU answer comes
                # after whatever it answers to CANCEL. The page asks for no menu on this screen.
                remote.send(json.dumps({"event": "SHOW_MENU", "values": {}}))

        remote.on_message(from_server)
        ws.on_message(from_page)
        upstream["page"] = ws

    page.route_web_socket(_is_kiosk_socket, route)
    open_home(page, server.kiosk_url())
    order_id = pick(page, "cola")
    menus = len(events(page, "SHOW_MENU"))
    hold["on"] = True
    server.control(order_id, "pay")
    assert server.wait_status(order_id, "paid")["status"] == "paid"
    deadline = time.monotonic() + 15
    while len(held) < 2:  # the payment has landed: the server sent its frames
        assert time.monotonic() < deadline, held
        page.wait_for_timeout(10)
    page.locator("#payment-cancel").click()
    page.wait_for_function(
        "n => window.bayarKiosk.events.filter(m => m.event === 'SHOW_MENU').length > n", arg=menus
    )
    assert sent(page, "CANCEL") == [{"event": "CANCEL", "values": {"order_id": order_id}}]
    assert not events(page, "ERROR")
    assert not events(page, "ORDER_CANCELLED")
    assert screen(page) == "payment"
    # The answer to CANCEL was no frame: the payment's own, once, are all the page gets.
    assert [json.loads(m)["event"] for m in held] == ["PAYMENT_SUCCESS", "DISPENSE"]
    hold["on"] = False
    for message in held:
        upstream["page"].send(message)
    wait_screen(page, "done")
    assert not events(page, "ORDER_CANCELLED")
    assert page.evaluate("window.bayarKiosk.dispenser.executed.length") == 1
    assert [r["values"]["ok"] for r in sent(page, "DISPENSE_RESULT")] == [True]
    assert server.wait_status(order_id, "fulfilled")["status"] == "fulfilled"


def test_qr_expiry(page: Page, kiosk_server: KioskServer) -> None:
    server = kiosk_server
    open_home(page, server.kiosk_url())
    order_id = pick(page, "teh-manis")
    server.control(order_id, "expire")
    wait_screen(page, "expired")
    assert "Waktu pembayaran habis" in page.locator("#message-title").inner_text()
    shot(page, "expired")
    assert server.wait_status(order_id, "expired")["status"] == "expired"


def test_payment_denied(page: Page, kiosk_server: KioskServer) -> None:
    server = kiosk_server
    open_home(page, server.kiosk_url())
    order_id = pick(page, "cola")
    server.control(order_id, "deny")
    wait_screen(page, "failed")
    assert "Pembayaran gagal" in page.locator("#message-title").inner_text()
    shot(page, "failed")
    assert server.wait_status(order_id, "failed")["status"] == "failed"


def test_dispense_failure_is_refunded(page: Page, kiosk_server: KioskServer) -> None:
    server = kiosk_server
    open_home(page, server.kiosk_url(dispenser="fail"))
    order_id = pick(page, "kopi-susu")
    server.control(order_id, "pay")
    wait_screen(page, "dispensing")
    wait_screen(page, "refunded")
    assert "Rp 12.000" in page.locator("#message-body").inner_text()
    assert order_id in page.locator("#message-ref").inner_text()
    shot(page, "refunded")
    results = sent(page, "DISPENSE_RESULT")
    assert len(results) == 1
    assert results[0]["values"]["ok"] is False
    assert events(page, "REFUNDED")[0]["values"] == {"order_id": order_id, "amount": 12000}
    assert server.wait_status(order_id, "refunded")["status"] == "refunded"
    assert server.gateway_status(order_id)["transaction_status"] == "refund"


def test_fail_next_dispense_only(page: Page, kiosk_server: KioskServer) -> None:
    """`bayarKiosk.dispenser.failNext = true`: a drill for one purchase, then back to normal."""
    server = kiosk_server
    open_home(page, server.kiosk_url(idle="30,1"))
    page.evaluate("window.bayarKiosk.dispenser.failNext = true")
    first = pick(page, "cola")
    server.control(first, "pay")
    wait_screen(page, "refunded")
    wait_screen(page, "home", timeout=6000)
    second = pick(page, "cola")
    server.control(second, "pay")
    wait_screen(page, "done")
    assert server.wait_status(first, "refunded")["status"] == "refunded"
    assert server.wait_status(second, "fulfilled")["status"] == "fulfilled"


def test_silent_dispenser_is_refunded_after_the_ack_timeout(
    page: Page, kiosk_server_factory: Callable[..., KioskServer]
) -> None:
    server = kiosk_server_factory(dispense_timeout=3.0)  # the only test that waits it out
    open_home(page, server.kiosk_url(dispenser="silent"))
    order_id = pick(page, "air-mineral")
    server.control(order_id, "pay")
    wait_screen(page, "dispensing")
    wait_screen(page, "refunded", timeout=15_000)
    assert not sent(page, "DISPENSE_RESULT")
    assert server.wait_status(order_id, "refunded")["status"] == "refunded"


# ------------------------------------------------------------------------------------ robustness


def test_reload_during_payment_shows_the_same_order(page: Page, kiosk_server: KioskServer) -> None:
    server = kiosk_server
    open_home(page, server.kiosk_url())
    order_id = pick(page, "jeruk")
    page.wait_for_timeout(SETTLE_MS)
    qr = decode_qr(page)
    page.reload()
    wait_screen(page, "payment")
    assert page.evaluate("window.bayarKiosk.orderId") == order_id
    assert events(page)[0]["event"] == "STATE"
    assert events(page)[0]["values"]["screen"] == "payment"
    page.wait_for_timeout(SETTLE_MS)
    assert decode_qr(page) == qr == server.order(order_id)["payment"]["qr_string"]
    assert re.fullmatch(r"1[45]:\d\d", page.locator("#countdown-time").inner_text())
    server.control(order_id, "pay")
    wait_screen(page, "done")
    assert server.wait_status(order_id, "fulfilled")["status"] == "fulfilled"


def test_a_lost_order_answer_is_retried_with_the_same_request_id(
    page: Page, kiosk_server: KioskServer
) -> None:
    """The socket dies between ORDER and ORDER_CREATED, and the STATE of the new socket does not
    show the order yet (it was still being made): the page sends the ORDER again with the same
    request_id, and bayar answers with the same order, not a second one."""
    server = kiosk_server
    state: dict[str, Any] = {"connections": 0, "lost": None}

    def route(ws: WebSocketRoute) -> None:
        state["connections"] += 1
        remote = ws.connect_to_server()
        connection = state["connections"]

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["event"] == "ORDER_CREATED" and state["lost"] is None:
                state["lost"] = frame["values"]["order_id"]
                ws.close(code=4000, reason="drill: connection lost")
                remote.close()
                return
            if frame["event"] == "STATE" and connection == 2:  # as if not committed yet
                frame["values"].update(screen="home", order=None)
                message = json.dumps(frame)
            ws.send(message)

        remote.on_message(from_server)

    page.route_web_socket(_is_kiosk_socket, route)
    open_home(page, server.kiosk_url())
    page.locator("#screen-home").click()
    wait_screen(page, "menu")
    page.locator('.card[data-product-id="lemon"]').click()
    wait_screen(page, "payment")
    orders = sent(page, "ORDER")
    assert len(orders) == 2, orders
    assert orders[0]["values"]["request_id"] == orders[1]["values"]["request_id"]
    assert state["connections"] == 2
    order_id = page.evaluate("window.bayarKiosk.orderId")
    assert order_id == state["lost"]
    assert [e["values"]["order_id"] for e in events(page, "ORDER_CREATED")] == [order_id]
    assert server.order(order_id)["status"] == "pending"


def test_repeated_dispense_is_answered_without_dispensing_twice(
    page: Page, kiosk_server_factory: Callable[..., KioskServer]
) -> None:
    """The DISPENSE_RESULT is lost with the socket: on reconnect bayar repeats the DISPENSE and the
    page answers from its memory (localStorage) instead of dropping a second drink."""
    server = kiosk_server_factory()
    state = {"swallow": True}

    def route(ws: WebSocketRoute) -> None:
        remote = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if state["swallow"] and '"DISPENSE_RESULT"' in str(message):
                state["swallow"] = False
                ws.close(code=4000, reason="drill: connection lost before the ack")
                remote.close()
                return
            remote.send(message)

        ws.on_message(from_page)

    page.route_web_socket(_is_kiosk_socket, route)
    open_home(page, server.kiosk_url())
    order_id = pick(page, "cola")
    server.control(order_id, "pay")
    wait_screen(page, "done", timeout=20_000)
    dispenses = events(page, "DISPENSE")
    assert len(dispenses) == 2
    assert dispenses[0]["values"]["dispense_id"] == dispenses[1]["values"]["dispense_id"]
    assert page.evaluate("window.bayarKiosk.dispenser.executed.length") == 1
    assert server.wait_status(order_id, "fulfilled")["status"] == "fulfilled"
    memory = page.evaluate("localStorage.getItem('bayar.kiosk.demo-1.dispensed')")
    assert json.loads(memory)[dispenses[0]["values"]["dispense_id"]]["ok"] is True


def test_simulated_dispenser_remembers_across_reloads(
    page: Page, kiosk_server: KioskServer
) -> None:
    open_home(page, kiosk_server.kiosk_url())
    command = (
        "{order_id: 'o-1', dispense_id: 'dsp-test-1', slot: 'A1', product_id: 'cola', name: 'Cola'}"
    )
    both = page.evaluate(
        f"""async () => {{
            const d = window.bayarKiosk.dispenser;
            const [a, b] = await Promise.all([d.dispense({command}), d.dispense({command})]);
            const c = await d.dispense({command});
            return [a, b, c, d.executed.length];
        }}"""
    )
    assert both[0]["ok"] is True
    assert both[1] == both[0]
    assert both[2]["ok"] is True
    assert both[3] == 1
    page.reload()
    wait_screen(page, "home")
    again = page.evaluate(
        f"""async () => {{
            const d = window.bayarKiosk.dispenser;
            const r = await d.dispense({command});
            return [r, d.executed.length];
        }}"""
    )
    assert again[0]["ok"] is True
    assert again[0]["repeated"] is True
    assert again[1] == 0


def test_offline_banner_and_reconnect_with_backoff(page: Page, kiosk_server: KioskServer) -> None:
    """The first connections fail; the page backs off (1 s, 2 s, 4 s, ±20 %), shows a discreet
    banner, keeps working offline, and comes back when the server answers."""
    attempts: list[float] = []

    def route(ws: WebSocketRoute) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            ws.close(code=4000, reason="drill: server not up yet")
        else:
            ws.connect_to_server()

    page.route_web_socket(_is_kiosk_socket, route)
    page.goto(kiosk_server.kiosk_url())
    page.wait_for_selector("#offline:not([hidden])", timeout=5000)
    wait_screen(page, "home")
    assert "Offline" in page.locator("#offline").inner_text()
    shot(page, "offline")
    page.locator("#screen-home").click()  # offline, the page still answers the customer
    wait_screen(page, "menu")
    page.wait_for_selector("#offline", state="hidden", timeout=15_000)
    assert len(attempts) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    for gap, nominal in zip(gaps, (1, 2, 4), strict=True):
        assert nominal * 0.75 <= gap <= nominal * 1.25 + 0.5, gaps
    page.wait_for_selector(".card", timeout=5000)  # the menu came with STATE
    assert screen(page) == "menu"  # a reconnect does not throw the customer out of the menu


def test_server_restart(page: Page, kiosk_server: KioskServer) -> None:
    """bayar goes away and comes back on the same port: the page survives and resumes."""
    server = kiosk_server
    open_home(page, server.kiosk_url())
    order_id = pick(page, "lemon")
    server.stop()
    page.wait_for_selector("#offline:not([hidden])", timeout=10_000)
    assert screen(page) == "payment"
    server.start()
    page.wait_for_selector("#offline", state="hidden", timeout=25_000)
    wait_screen(page, "payment")
    assert page.evaluate("window.bayarKiosk.orderId") == order_id
    server.control(order_id, "pay")
    wait_screen(page, "done")


def test_two_machines_never_see_each_others_events(
    new_page: Callable[..., Page], kiosk_server: KioskServer
) -> None:
    server = kiosk_server
    token = server.add_machine(
        "kiosk-2",
        "Kantin Lantai 2",
        "Gedung B",
        [("A1", "cola", 5, 10), ("A2", "lemon", 0, 10), ("A3", "kopi-susu", 2, 10)],
    )
    one, two = new_page(), new_page()
    open_home(one, server.kiosk_url(idle="30,2"))
    open_home(two, server.kiosk_url("kiosk-2", token))
    assert two.locator("#machine-name").inner_text() == "Kantin Lantai 2"
    two.locator("#screen-home").click()
    wait_screen(two, "menu")
    assert two.locator(".card").count() == 3
    assert two.locator('.card[data-product-id="lemon"]').is_disabled()
    assert "Sisa 2" in two.locator('.card[data-product-id="kopi-susu"]').inner_text()

    first = pick(one, "cola")
    second = pick(two, "kopi-susu")
    assert first != second
    server.control(first, "pay")
    wait_screen(one, "done")
    assert screen(two) == "payment"
    assert two.evaluate("window.bayarKiosk.orderId") == second
    server.control(second, "expire")
    wait_screen(two, "expired")
    assert screen(one) in ("done", "home")

    def order_ids(tab: Page) -> set[str]:
        return {
            e["values"]["order_id"]
            for e in events(tab)
            if isinstance(e.get("values"), dict) and "order_id" in e["values"]
        } | {
            e["values"]["order"]["order_id"]
            for e in events(tab, "STATE")
            if e["values"].get("order")
        }

    assert order_ids(one) == {first}
    assert order_ids(two) == {second}
    assert server.order(first)["status"] == "fulfilled"
    assert server.order(second)["status"] == "expired"


def test_sold_out_while_choosing(page: Page, kiosk_server: KioskServer) -> None:
    """The menu on screen is a little old: the last can went to someone else meanwhile."""
    server = kiosk_server
    open_home(page, server.kiosk_url())
    page.locator("#screen-home").click()
    wait_screen(page, "menu")
    page.wait_for_selector(".card")
    server.set_stock("demo-1", "A2", 0)
    page.locator('.card[data-product-id="lemon"]').click()
    wait_screen(page, "error")
    assert "habis" in page.locator("#message-title").inner_text()
    shot(page, "sold-out")
    page.locator("#message-home").click()
    wait_screen(page, "menu")
    page.wait_for_function(
        "document.querySelector('.card[data-product-id=\"lemon\"]').disabled === true"
    )


def test_idle_timeout_and_language(page: Page, kiosk_server: KioskServer) -> None:
    open_home(page, kiosk_server.kiosk_url(lang="en", idle="1.5"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Tap to buy" in page.locator("#home-cta").inner_text()
    page.locator('.lang-btn[data-lang="id"]').click()
    assert screen(page) == "home"  # the toggle is not a tap to buy
    assert "Ketuk untuk membeli" in page.locator("#home-cta").inner_text()
    page.locator('.lang-btn[data-lang="en"]').click()
    page.locator("#screen-home").click()
    wait_screen(page, "menu")
    assert page.locator("#menu-title").inner_text() == "Choose a drink"
    started = time.monotonic()
    wait_screen(page, "home", timeout=5000)
    assert 1.0 <= time.monotonic() - started <= 3.5
    page.locator("#screen-home").click()
    wait_screen(page, "menu")
    page.locator("#menu-back").click()
    wait_screen(page, "home")


def test_menu_at_1080p(new_page: Callable[..., Page], kiosk_server: KioskServer) -> None:
    page = new_page(LARGE)
    kiosk_server.set_stock("demo-1", "B3", 0)
    open_home(page, kiosk_server.kiosk_url())
    shot(page, "home-1080p")
    page.locator("#screen-home").click()
    wait_screen(page, "menu")
    page.wait_for_selector(".card")
    shot(page, "menu-1080p")
    for i in range(6):
        box = page.locator(".card").nth(i).bounding_box()
        assert box is not None
        assert box["height"] >= 280
        assert box["x"] + box["width"] <= 1920
        assert box["y"] + box["height"] <= 1080
    order_id = pick(page, "cola")
    page.wait_for_timeout(SETTLE_MS)
    assert decode_qr(page) == kiosk_server.order(order_id)["payment"]["qr_string"]
    shot(page, "payment-1080p")


# ------------------------------------------------------------------------------------ two processes


@pytest.mark.postgres
@pytest.mark.redis
def test_a_payment_handled_by_a_second_server_process_reaches_the_kiosk(
    page: Page,
    kiosk_server_factory: Callable[..., KioskServer],
    postgres_database: str,
    redis_server_url: str,
    tmp_path: Path,
) -> None:
    b_port = free_port()
    b_url = f"http://127.0.0.1:{b_port}"
    server_a = kiosk_server_factory(
        database_url=postgres_database,
        redis_url=redis_server_url,
        bayar_sandbox_notification_url=f"{b_url}/api/payments/notification",
        dispense_timeout=30.0,
    )
    # B knows the sandbox only as its Midtrans: it confirms "paid" with A's sandbox, as it would
    # with Midtrans itself.
    env = clean_env(
        DATABASE_URL=postgres_database,
        REDIS_URL=redis_server_url,
        BAYAR_SANDBOX="false",
        BAYAR_VAR_DIR=str(tmp_path / "b-var"),
        MIDTRANS_SERVER_KEY=DEMO_SERVER_KEY,
        MIDTRANS_CLIENT_KEY=DEMO_CLIENT_KEY,
        MIDTRANS_CORE_BASE_URL=f"{server_a.url}/sandbox/midtrans",
        MIDTRANS_SNAP_BASE_URL=f"{server_a.url}/sandbox/midtrans/snap/v1",
    )
    server_b = ServeProcess(b_port, tmp_path / "b", env)
    try:
        # A machine of this test only: Redis channels are shared by every test database.
        machine_id = f"two-{secrets.token_hex(4)}"
        token = server_a.add_machine(machine_id, "Dua Proses", "Lobby", [("A1", "cola", 3, 5)])
        open_home(page, server_a.kiosk_url(machine_id, token))
        order_id = pick(page, "cola")
        assert order_id in server_a.scan_at_sandbox(decode_qr(page))
        server_a.control(order_id, "pay")

        wait_screen(page, "done")
        # Told through the Redis bus, not found later by a STATE refresh.
        assert [e["values"] for e in events(page, "PAYMENT_SUCCESS")] == [{"order_id": order_id}]

        deliveries = httpx.get(
            f"{server_a.url}/sandbox/_control/midtrans/{order_id}", timeout=10
        ).json()["notifications"]
        settled = [d for d in deliveries if d["transaction_status"] == "settlement"]
        assert [d["url"] for d in settled] == [f"{b_url}/api/payments/notification"]
        assert [a["outcome"] for a in settled[0]["attempts"]] == ["200"]
        order = server_a.order(order_id)
        assert order["status"] == "fulfilled"
        paid = [h for h in order["history"] if h["to_status"] == "paid"]
        assert [h["source"] for h in paid] == ["webhook"]
        assert "order pending -> paid (webhook)" in server_b.log.read_text()  # B applied it
    finally:
        server_b.stop()
