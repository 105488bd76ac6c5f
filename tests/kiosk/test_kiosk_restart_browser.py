"""Issue 12: a bayar process that stops (SIGTERM) closes its kiosk sockets with 1012 "service
restart"; the kiosk page reconnects at once (to another process behind the load balancer), not
after its failure backoff (1 s, 2 s, 4 s ...). The close is played by Playwright's WebSocket route,
in front of a live bayar."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from tests.kiosk.conftest import KioskServer

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any, problems: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1024, "height": 600}, has_touch=True)
    tab = context.new_page()
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield tab
    context.close()
    assert problems == []


def wait_connected(page: Any) -> None:
    deadline = time.monotonic() + 10
    while not page.evaluate("window.bayarKiosk.connected"):
        assert time.monotonic() < deadline, "the page never connected"
        page.wait_for_timeout(10)


def test_a_restart_close_code_reconnects_at_once(page: Any, kiosk_server: KioskServer) -> None:
    sockets: list[Any] = []
    opened: list[float] = []

    def route(ws: Any) -> None:
        opened.append(time.monotonic())
        sockets.append(ws)
        ws.connect_to_server()

    page.route_web_socket(lambda url: "/ws/kiosk/" in url, route)
    page.goto(kiosk_server.kiosk_url())
    wait_connected(page)

    gaps = []
    for code in (1012, 1012, 4503):  # twice: a restart does not grow the backoff
        count = len(opened)
        closed = time.monotonic()
        sockets[-1].close(code=code, reason="service restart")
        deadline = time.monotonic() + 5
        while len(opened) == count:
            assert time.monotonic() < deadline, "the page never reconnected"
            page.wait_for_timeout(10)
        gaps.append(opened[-1] - closed)
        wait_connected(page)
    assert all(gap < 0.6 for gap in gaps), gaps  # the failure backoff starts at 0.8 s

    # Any other close is a failure: the page backs off (1 s ± 20 %).
    count = len(opened)
    closed = time.monotonic()
    sockets[-1].close(code=4000, reason="drill")
    while len(opened) == count:
        assert time.monotonic() < closed + 5, "the page never reconnected"
        page.wait_for_timeout(10)
    assert opened[-1] - closed >= 0.75
