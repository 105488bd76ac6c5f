"""Issue 12, must show: the layout of `make fleet` behaves as one bayar, through nginx.

- a kiosk connected to one `bayar serve` sees PAYMENT_SUCCESS and DISPENSE for a payment whose
  webhook the other one took;
- a shop checkout pays, the customer's browser sent only to nginx (snap.js, the Snap page);
- one serve process killed (SIGKILL) mid-flow: the kiosk reconnects through nginx to the other,
  and the order completes;
- SIGTERM to a process: the checkout it took is answered, its kiosk is told 1012 and reconnects
  through nginx to the other;
- a rolling restart (SIGTERM, one process after the other) under a steady webhook load loses
  nothing: every order's final state equals the sandbox's (the drills' books), and every webhook
  was answered 200 the first time it was sent.

nginx names the process that answered in X-Bayar-Upstream (a header of `make fleet`'s nginx only);
a process's log says which orders it moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import signal
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bayar.config import DEMO_CLIENT_KEY
from bayar.storage.models import Order, Product
from bayar.vending.machines import create_machine

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
WAIT = 20.0  # seconds any one awaited event may take
CONVERGE = 60.0  # seconds the books may take (the worker's first check, then its backoff)


def upstream(headers: Any) -> str:
    """The process nginx finally passed the request to ("a, b" when it tried a first)."""
    return str(headers["X-Bayar-Upstream"]).split(",")[-1].strip()


async def next_event(
    ws: ClientConnection, event: str, order_id: str, within: float = WAIT
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {event} for {order_id}"
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        values: dict[str, Any] = frame.get("values") or {}
        if frame.get("event") == event and values.get("order_id") == order_id:
            return values


async def dispensed(ws: ClientConnection, order_id: str) -> None:
    """What the machine does: PAYMENT_SUCCESS, then DISPENSE, answered with DISPENSE_RESULT."""
    command = await next_event(ws, "DISPENSE", order_id)
    await ws.send(
        json.dumps(
            {
                "event": "DISPENSE_RESULT",
                "values": {"order_id": order_id, "dispense_id": command["dispense_id"], "ok": True},
            }
        )
    )
    await next_event(ws, "DISPENSED", order_id)


async def kiosk_order(client: httpx.AsyncClient, url: str, machine_id: str, token: str) -> str:
    made = await client.post(
        f"{url}/api/payments/create-transaction",
        json={
            "items": [{"product_id": "cola", "quantity": 1}],
            "payment_type": "qris",
            "machine_id": machine_id,
        },
        headers={"X-Kiosk-Token": token},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["order_id"])


async def status_of(client: httpx.AsyncClient, url: str, order_id: str) -> str:
    return str((await client.get(f"{url}/api/orders/{order_id}")).json()["status"])


async def wait_status(client: httpx.AsyncClient, url: str, order_id: str, status: str) -> None:
    deadline = time.monotonic() + WAIT
    while (found := await status_of(client, url, order_id)) != status:
        assert time.monotonic() < deadline, f"{order_id} is {found}, never {status}"
        await asyncio.sleep(0.05)


async def order_count(fleet: Any) -> int:
    async with fleet.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


def applied_by(fleet: Any, order_id: str) -> list[str]:
    """The serve processes whose log says they moved the order to paid on its webhook."""
    return [
        name
        for name in ("serve-a", "serve-b")
        if any(
            order_id in line and "pending -> paid (webhook)" in line
            for line in fleet.log(name).splitlines()
        )
    ]


async def new_machine(fleet: Any) -> tuple[str, str]:
    machine_id = f"fleet-{secrets.token_hex(4)}"
    token = await create_machine(fleet.db, machine_id, "Armada", "Lobi", [("A1", "cola", 9, 9)])
    return machine_id, token


async def test_a_kiosk_on_one_process_hears_a_payment_the_other_took(fleet: Any) -> None:
    machine_id, token = await new_machine(fleet)
    url = f"{fleet.ws_url}/ws/kiosk/{machine_id}?token={token}"
    async with (
        connect(url, open_timeout=10, ping_interval=None) as ws,
        httpx.AsyncClient(timeout=30) as client,
    ):
        assert ws.response is not None
        kiosk_on = fleet.serving(upstream(ws.response.headers))
        # nginx balances the sandbox's webhooks over both processes: within a few payments one
        # lands on the process the kiosk is not connected to.
        for _ in range(6):
            order_id = await kiosk_order(client, fleet.url, machine_id, token)
            assert (await fleet.control(f"midtrans/{order_id}/pay")).status_code == 200
            assert await next_event(ws, "PAYMENT_SUCCESS", order_id) == {"order_id": order_id}
            await dispensed(ws, order_id)
            assert await status_of(client, fleet.url, order_id) == "fulfilled"
            took = applied_by(fleet, order_id)
            assert len(took) == 1, took
            if took != [kiosk_on]:
                return
    raise AssertionError(f"every webhook went to {kiosk_on}, the kiosk's own process")


async def test_a_shop_checkout_pays_through_nginx(fleet: Any) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        made = await client.post(
            f"{fleet.url}/api/payments/create-transaction",
            json={"items": [{"product_id": "cola", "quantity": 2}], "payment_type": "snap"},
        )
        assert made.status_code == 201, made.text
        order_id, snap = made.json()["order_id"], made.json()["payment"]["token"]
        # Every address handed to the browser is nginx's, never the sandbox's own port.
        redirect_url = made.json()["payment"]["redirect_url"]
        assert redirect_url == f"{fleet.url}/sandbox/midtrans/snap/v2/vtweb/{snap}"
        page = await client.get(redirect_url)
        assert page.status_code == 200, page.text
        assert upstream(page.headers).endswith(fleet.sandbox.split("//", 1)[1])
        shop = await client.get(f"{fleet.url}/")
        found = re.search(r'<script src="([^"]+/snap\.js)"', shop.text)
        assert found is not None, shop.text
        assert found.group(1) == f"{fleet.url}/sandbox/midtrans/snap/snap.js"
        assert fleet.url in shop.headers["Content-Security-Policy"]
        script = await client.get(found.group(1))
        assert script.status_code == 200
        assert "snap" in script.text
        # The customer's browser on the Snap page, served by the sandbox behind the same nginx.
        tokenized = await client.get(
            f"{fleet.url}/sandbox/midtrans/v2/token",
            params={
                "client_key": DEMO_CLIENT_KEY,
                "card_number": "4411111111111118",  # accepted, no 3-D Secure
                "card_exp_month": "12",
                "card_exp_year": str(datetime.now(UTC).year + 2),
                "card_cvv": "123",
            },
        )
        assert tokenized.status_code == 200, tokenized.text
        charged = await client.post(
            f"{fleet.url}/sandbox/midtrans/snap/v2/vtweb/{snap}/charge",
            json={"payment_type": "credit_card", "token_id": tokenized.json()["token_id"]},
        )
        assert charged.status_code == 200, charged.text
        await wait_status(client, fleet.url, order_id, "paid")


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


async def admin_login(client: httpx.AsyncClient, fleet: Any) -> set[str]:
    """Log in to the admin through nginx; the serve processes that answered."""
    client.cookies.clear()
    form = await client.get(f"{fleet.url}/admin/login")
    assert form.status_code == 200, form.text
    logged = await client.post(
        f"{fleet.url}/admin/login",
        data={"password": fleet.admin_password, "csrf_token": csrf_of(form.text)},
    )
    assert logged.status_code == 303, logged.text
    assert "/admin/login" not in logged.headers["location"]
    return {upstream(form.headers), upstream(logged.headers)}


async def test_an_admin_login_holds_on_every_process(fleet: Any) -> None:
    """The login form from one serve, its POST and the pages after on whichever nginx picks:
    every serve signs and reads the admin's cookie with the fleet's one secret."""
    seen: set[str] = set()
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        for _ in range(3):  # three logins: the form and its POST land on either process
            seen |= await admin_login(client, fleet)
            for page in ("/admin/orders", "/admin/products", "/admin/machines") * 2:
                answer = await client.get(f"{fleet.url}{page}")
                assert answer.status_code == 200, (page, answer.headers.get("location"))
                seen.add(upstream(answer.headers))
    assert {fleet.serving(address) for address in seen} == {"serve-a", "serve-b"}


async def test_a_picture_uploaded_through_nginx_is_served_by_every_process(fleet: Any) -> None:
    picture = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(64)  # a new file each run
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        await admin_login(client, fleet)
        products = await client.get(f"{fleet.url}/admin/products")
        assert products.status_code == 200, products.text
        uploaded = await client.post(
            f"{fleet.url}/admin/products/cola/picture",
            data={"csrf_token": csrf_of(products.text)},
            files={"picture": ("cola.png", picture, "image/png")},
        )
        assert uploaded.status_code == 303, uploaded.text
        async with fleet.db.session() as session:
            url = await session.scalar(select(Product.image_url).where(Product.id == "cola"))
        assert url is not None
        assert url.startswith("/media/products/cola-"), url
        for name in ("serve-a", "serve-b"):  # whichever took the upload, each serves it
            served = await client.get(f"{fleet.process(name)['url']}{url}")
            assert served.status_code == 200, (name, served.status_code)
            assert served.content == picture
        through = await client.get(f"{fleet.url}{url}")
        assert through.status_code == 200
        assert through.content == picture


async def test_a_killed_process_hands_its_kiosk_to_the_other(fleet: Any) -> None:
    machine_id, token = await new_machine(fleet)
    books = await fleet.books()
    url = f"{fleet.ws_url}/ws/kiosk/{machine_id}?token={token}"
    async with httpx.AsyncClient(timeout=30) as client:
        async with connect(url, open_timeout=10, ping_interval=None) as ws:
            assert ws.response is not None
            victim = fleet.serving(upstream(ws.response.headers))
            order_id = await kiosk_order(client, fleet.url, machine_id, token)
            starts = fleet.signal(victim, signal.SIGKILL)  # mid-flow: the QR is on the screen
            closed = time.monotonic()
            while time.monotonic() - closed < WAIT:  # the socket dies with its process
                try:
                    await asyncio.wait_for(ws.recv(), WAIT)
                except (TimeoutError, Exception):
                    break
        assert (await fleet.control(f"midtrans/{order_id}/pay")).status_code == 200
        async with connect(url, open_timeout=10, ping_interval=None) as again:
            assert again.response is not None
            survivor = fleet.serving(upstream(again.response.headers))
            assert survivor != victim
            await dispensed(again, order_id)  # paid while away, or told now: dispensed once
        await wait_status(client, fleet.url, order_id, "fulfilled")
    await fleet.restarted(victim, starts)
    await fleet.balanced(victim)
    audit = await books.audit()
    assert audit.ok, str(audit)


async def test_sigterm_finishes_a_checkout_and_sends_its_kiosk_elsewhere(fleet: Any) -> None:
    """SIGTERM to the process a kiosk is on, while a checkout it took waits on the gateway: the
    checkout is answered, the kiosk is told 1012 "service restart" and reconnects through nginx
    to the other process."""
    machine_id, token = await new_machine(fleet)
    url = f"{fleet.ws_url}/ws/kiosk/{machine_id}?token={token}"
    async with httpx.AsyncClient(timeout=30) as client:
        async with connect(url, open_timeout=10, ping_interval=None) as ws:
            assert ws.response is not None
            stopping = fleet.serving(upstream(ws.response.headers))
            before = await order_count(fleet)
            # The gateway takes 3 s to answer the next call: the checkout is in flight.
            hang = await fleet.control("faults", kind="api_hang", seconds=3, count=1)
            assert hang.status_code == 200, hang.text
            checkout = asyncio.create_task(
                client.post(
                    f"{fleet.process(stopping)['url']}/api/payments/create-transaction",
                    json={"items": [{"product_id": "cola", "quantity": 1}], "payment_type": "qris"},
                )
            )
            deadline = time.monotonic() + WAIT
            while await order_count(fleet) == before:  # the order exists, its charge hangs
                assert time.monotonic() < deadline, "the checkout never started"
                await asyncio.sleep(0.02)
            starts = fleet.signal(stopping, signal.SIGTERM)
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), WAIT)
            assert ws.close_code == 1012  # "service restart": reconnect at once
            answer = await checkout
        assert answer.status_code == 201, answer.text
        async with connect(url, open_timeout=10, ping_interval=None) as again:
            assert again.response is not None
            assert fleet.serving(upstream(again.response.headers)) != stopping
    await fleet.restarted(stopping, starts)
    await fleet.balanced(stopping)


async def test_a_rolling_restart_under_webhook_load_loses_nothing(fleet: Any) -> None:
    await fleet.set_stock("cola", 100_000)
    books = await fleet.books()
    paid: list[str] = []
    creates: list[int] = []
    stop, progress = asyncio.Event(), asyncio.Event()

    async def more_paid(count: int) -> None:
        target = len(paid) + count
        while len(paid) < target:
            progress.clear()
            await asyncio.wait_for(progress.wait(), WAIT)

    async def load(client: httpx.AsyncClient) -> None:
        """A steady load: orders made through nginx and paid at the sandbox, whose webhooks
        come back through nginx, ~5 a second."""
        while not stop.is_set():
            made = await client.post(
                f"{fleet.url}/api/payments/create-transaction",
                json={"items": [{"product_id": "cola", "quantity": 1}], "payment_type": "qris"},
            )
            creates.append(made.status_code)
            if made.status_code == 201:
                order_id = made.json()["order_id"]
                assert (await fleet.control(f"midtrans/{order_id}/pay")).status_code == 200
                paid.append(order_id)
                progress.set()
            await asyncio.sleep(0.2)

    async with httpx.AsyncClient(timeout=30) as client:
        running = asyncio.create_task(load(client))
        try:
            for name in ("serve-a", "serve-b"):
                await more_paid(5)  # under load when it stops
                starts = fleet.signal(name, signal.SIGTERM)
                await fleet.restarted(name, starts)
                await fleet.balanced(name)
            await more_paid(5)  # and after both came back
        finally:
            stop.set()
            await running

    assert set(creates) == {201}, creates  # every checkout answered, whoever was stopping
    deadline = time.monotonic() + CONVERGE
    while not (audit := await books.audit()).ok:
        assert time.monotonic() < deadline, str(audit)
        await asyncio.sleep(0.3)
    assert audit.orders == len(paid)
    async with httpx.AsyncClient(timeout=30) as client:
        for order_id in paid:
            assert await status_of(client, fleet.url, order_id) == "paid"
    # Not one webhook needed the sandbox's retry (or the worker): each was answered 200 at once.
    for order_id in paid:
        log = (await fleet.control(f"midtrans/{order_id}/notifications", "GET")).json()
        settled = [d for d in log if d["transaction_status"] == "settlement"]
        assert [a["outcome"] for a in settled[0]["attempts"]] == ["200"], settled
