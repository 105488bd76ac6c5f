"""Issue 8's "needs attention": money for a closed order that the gateway cannot give back goes to
the one manual-refund queue, the admin dashboard lists it, and a person who gave it back by hand
says so on the admin's page. The books balance while it waits (queued for a person) and after it
is done (given back by hand, outside the gateway).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx
from steps import worker_pass

PASSWORD = "drill-admin"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'data-testid="flash">([^<]*)<')


def csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient) -> None:
    client.headers["Accept-Language"] = "en"  # the drill reads the admin's English words
    page = await client.get("/admin/login")
    answer = await client.post(
        "/admin/login", data={"password": PASSWORD, "csrf_token": csrf(page.text)}
    )
    assert answer.status_code == 303, answer.text


def attention_item(dashboard: str, order_id: str) -> str:
    """The dashboard's "needs attention" entry of the order (fails if there is none)."""
    found = re.search(rf'<li data-order="{re.escape(order_id)}"[^>]*>(.*?)</li>', dashboard, re.S)
    assert found is not None, f"{order_id} is not under 'needs attention'"
    return found.group(0)


async def refunded_by_hand(client: httpx.AsyncClient, refund_key: str, note: str) -> str:
    """The "Refunded by hand" button of the manual-refund page; the message it shows."""
    page = await client.get("/admin/refunds/manual")
    answer = await client.post(
        f"/admin/refunds/manual/{refund_key}/resolve",
        data={"note": note, "csrf_token": csrf(page.text)},
    )
    assert answer.status_code == 303, answer.text
    shown = await client.get(answer.headers["location"])
    found = FLASH.search(shown.text)
    assert found is not None, "no message on the page"
    return html.unescape(found.group(1))


async def test_late_bank_transfer_refunded_by_hand(
    start_drill_bayar: Callable[..., Any], drill: Any
) -> None:
    """A Snap order bayar expired while its payment page was still open is paid there by bank
    transfer, which the gateway cannot refund: queued for a person, on the dashboard; the admin
    gives it back by hand and marks it so."""
    async with start_drill_bayar(bayar_admin_password=PASSWORD) as bayar:
        books = await drill.books(bayar)
        created = await bayar.create(("cola", 1), payment_type="snap")
        assert created.status_code == 201, created.text
        order_id = created.json()["order_id"]
        await worker_pass(bayar, minutes=63)  # past its deadline and the grace period
        assert (await bayar.order(order_id))["status"] == "expired"
        await bayar.pay(order_id, payment_type="bank_transfer")
        await bayar.delivered(order_id, count=2)  # pending, settlement
        await drill.converge(books)  # queued for a person: every rupiah has a home
        key = f"late-{order_id}"

        await log_in(bayar.client)
        item = attention_item((await bayar.client.get("/admin")).text, order_id)
        assert 'data-kind="late_payment"' in item
        assert f'href="/admin/orders/{order_id}"' in item
        assert "paid after the order closed (order expired): waiting for a person" in item
        assert "Rp 7.000" in item
        queue = (await bayar.client.get("/admin/refunds/manual")).text
        assert queue.count(f'data-refund="{key}"') == 1

        shown = await refunded_by_hand(bayar.client, key, "transfer to the customer's BCA")

        assert shown == f"{order_id}: Rp 7.000 marked as refunded by hand."
        queue = (await bayar.client.get("/admin/refunds/manual")).text
        assert f'data-refund="{key}"' not in queue
        assert "transfer to the customer&#39;s BCA" in queue  # under "recently refunded by hand"
        dashboard = (await bayar.client.get("/admin")).text
        item = attention_item(dashboard, order_id)
        assert "paid after the order closed (order expired): given back" in item
        # Never counted as paid revenue, so its refund is not counted against it either.
        assert "Rp -7.000" not in dashboard
        assert "<strong>Rp 0</strong>" in dashboard
        order = await bayar.order(order_id)
        assert order["status"] == "expired"  # closed it stays; the unit was never sold
        assert [(r["amount"], r["status"]) for r in order["refunds"]] == [(7000, "succeeded")]
        await drill.converge(books)  # given back by hand: still every rupiah at home
        again = await refunded_by_hand(bayar.client, key, "twice")
        assert again.startswith("Not marked: this refund is not waiting for a person any more")
