"""The key drills with Xendit as the gateway (BAYAR_GATEWAY=xendit): duplicated and reordered
callbacks, a forged one, replays after a refund, refunds Xendit fails after accepting them, the
last units, an unpaid invoice expired. The books read the Xendit sandbox's own API
(conftest.xendit_gateway)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from harness import Bayar
from sqlalchemy import select
from steps import worker_pass

from bayar.config import DEMO_XENDIT_CALLBACK_TOKEN, DEMO_XENDIT_SECRET_KEY
from bayar.storage.models import Dispense
from bayar.vending.machines import create_machine

if TYPE_CHECKING:
    from conftest import Drill

CALLBACK = "/api/payments/xendit/callback"


@pytest.fixture
async def bayar(
    start_drill_bayar: Callable[..., contextlib.AbstractAsyncContextManager[Bayar]],
) -> AsyncIterator[Bayar]:
    async with start_drill_bayar(bayar_gateway="xendit") as running:
        yield running


async def _pay(bayar: Bayar, order_id: str) -> httpx.Response:
    return await bayar.client.post(f"/sandbox/_control/xendit/{order_id}/pay")


async def _callbacks(bayar: Bayar, order_id: str) -> list[dict[str, Any]]:
    answer = await bayar.client.get(f"/sandbox/_control/xendit/{order_id}/callbacks")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def _send(bayar: Bayar, delivery: dict[str, Any], **changes: Any) -> httpx.Response:
    """A callback the sandbox delivered, sent again with its token and webhook-id (a body
    changed by `changes`, as a retry or a copy of the same event carries)."""
    body = {**json.loads(delivery["body"]), **changes}
    headers = {
        "Content-Type": "application/json",
        "x-callback-token": DEMO_XENDIT_CALLBACK_TOKEN,
        "webhook-id": delivery["event_id"],
    }
    return await bayar.client.post(CALLBACK, content=json.dumps(body), headers=headers)


async def _finish_refunds(
    bayar: Bayar, order_id: str, action: str, *, some_pending: bool = True
) -> None:
    """Xendit finishes the order's pending refunds (`pay`: they succeed; `fail`), each with its
    callback, as it does some time after answering PENDING. `some_pending`: there must be one."""
    request = (await bayar.order(order_id))["payment"]["transaction_id"]
    kind = "payment_request_id" if request.startswith("pr-") else "invoice_id"
    answer = await bayar.client.get(
        "/sandbox/xendit/refunds",
        params={kind: request},
        auth=(DEMO_XENDIT_SECRET_KEY, ""),
    )
    assert answer.status_code == 200, answer.text
    pending = [r["id"] for r in answer.json()["data"] if r["status"] == "PENDING"]
    assert pending or not some_pending, answer.text
    for refund_id in pending:
        done = await bayar.client.post(f"/sandbox/_control/xendit/{refund_id}/{action}")
        assert done.status_code == 200, done.text


async def test_xendit_duplicates_x20_concurrent(bayar: Bayar, drill: Drill) -> None:
    """The paid callback of each order, dropped on its way, then sent 20 times at once."""
    books = await drill.books(bayar)
    orders = [await bayar.create_order(("cola", 1)) for _ in range(3)]
    for order_id in orders:
        await bayar.fault("drop")
        assert (await _pay(bayar, order_id)).status_code == 200
    deliveries = [(await _callbacks(bayar, order_id))[-1] for order_id in orders]
    for order_id in orders:
        assert (await bayar.order(order_id))["status"] == "pending"
    answers = await asyncio.gather(*(_send(bayar, d) for d in deliveries for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    for order_id in orders:
        moves = [t for t in await bayar.transitions(order_id) if t[1] == "paid"]
        assert moves == [("pending", "paid")]
    await drill.converge(books)


async def test_xendit_pending_after_paid_and_a_forged_paid(bayar: Bayar, drill: Drill) -> None:
    """An invoice's PENDING copy arriving after its PAID one, twice; and a PAID callback with the
    right token for an order nobody paid."""
    books = await drill.books(bayar)
    order_id = await bayar.create_order(("cola", 1), payment_type="snap")
    assert (await _pay(bayar, order_id)).status_code == 200
    await bayar.wait_status(order_id, "paid")
    paid = (await _callbacks(bayar, order_id))[-1]
    for _ in range(2):
        answer = await _send(bayar, {**paid, "event_id": ""}, status="PENDING")
        assert answer.status_code == 200, answer.text
    assert (await bayar.order(order_id))["status"] == "paid"

    unpaid = await bayar.create_order(("cola", 1), payment_type="snap")
    forged = await _send(bayar, {**paid, "event_id": "forged-1"}, external_id=unpaid)
    assert forged.status_code == 200, forged.text
    assert (await bayar.order(unpaid))["status"] == "pending"
    await drill.converge(books)


async def test_xendit_replay_after_refund(bayar: Bayar, drill: Drill) -> None:
    books = await drill.books(bayar)
    order_id = await bayar.create_order(("cola", 1))
    assert (await _pay(bayar, order_id)).status_code == 200
    await bayar.wait_status(order_id, "paid")
    refunded = await bayar.admin(order_id, "refund", reason="drill")
    assert refunded.status_code == 200, refunded.text
    await _finish_refunds(bayar, order_id, "pay")
    await bayar.wait_status(order_id, "refunded")
    paid = (await _callbacks(bayar, order_id))[-1]
    for event_id in ("", "replay-1", paid["event_id"]):
        assert (await _send(bayar, {**paid, "event_id": event_id})).status_code == 200
    assert (await bayar.order(order_id))["status"] == "refunded"
    await drill.converge(books, lambda: worker_pass(bayar))


async def test_xendit_refund_fails_later(bayar: Bayar, drill: Drill) -> None:
    """Xendit accepts two refunds (PENDING) and fails them later (issue 13): an admin's, whose
    order stays paid, its money kept; and a kiosk unit's that could not be dispensed, which goes
    to a person (the manual-refund queue; its dispense `manual_refund`). One failure's callback
    is dropped: the worker's pass finds it."""
    token = await create_machine(bayar.db, "drill-x1", "Drill", "Lab", [("A1", "cola", 5, 5)])
    books = await drill.books(bayar)
    shop = await bayar.create_order(("cola", 1))
    assert (await _pay(bayar, shop)).status_code == 200
    await bayar.wait_status(shop, "paid")
    refunded = await bayar.admin(shop, "refund", reason="drill")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refund"]["status"] == "pending"

    created = await bayar.client.post(
        "/api/payments/create-transaction",
        json={
            "items": [{"product_id": "cola", "quantity": 1}],
            "payment_type": "qris",
            "machine_id": "drill-x1",
        },
        headers={"X-Kiosk-Token": token},
    )
    assert created.status_code == 201, created.text
    kiosk = created.json()["order_id"]
    assert (await _pay(bayar, kiosk)).status_code == 200
    await bayar.wait_status(kiosk, "paid")
    # The machine never takes the order: after the offline window the sweep refunds the unit.
    await worker_pass(bayar, seconds=bayar.settings.bayar_kiosk_offline_refund + 1)
    (row,) = (await bayar.order(kiosk))["refunds"]
    assert row["status"] == "pending"

    await _finish_refunds(bayar, shop, "fail")
    await bayar.fault("drop")
    await _finish_refunds(bayar, kiosk, "fail")

    async def settle() -> None:
        await worker_pass(bayar, minutes=3)

    await drill.converge(books, settle)
    order = await bayar.order(shop)
    assert (order["status"], [r["status"] for r in order["refunds"]]) == ("paid", ["failed"])
    order = await bayar.order(kiosk)
    assert (order["status"], [r["status"] for r in order["refunds"]]) == ("paid", ["manual"])
    async with bayar.db.session() as session:
        dispense = await session.scalar(select(Dispense.status).where(Dispense.order_id == kiosk))
    assert dispense == "manual_refund"


async def test_xendit_last_units_50_buyers_10_units(bayar: Bayar, drill: Drill) -> None:
    await bayar.set_stock("cola", 10)
    books = await drill.books(bayar)
    answers = await asyncio.gather(*(bayar.create(("cola", 1)) for _ in range(50)))
    codes = sorted(a.status_code for a in answers)
    assert (codes.count(201), codes.count(409)) == (10, 40), codes
    sold = [a.json()["order_id"] for a in answers if a.status_code == 201]
    for order_id in sold:
        assert (await _pay(bayar, order_id)).status_code == 200
    for order_id in sold:
        await bayar.wait_status(order_id, "paid")
    await drill.converge(books)


async def test_xendit_unpaid_invoice_expired(bayar: Bayar, drill: Drill) -> None:
    """The worker expires an unpaid invoice at Xendit first, then the order; its stock returns."""
    books = await drill.books(bayar)
    order_id = await bayar.create_order(("cola", 1), payment_type="snap")
    await drill.converge(books, lambda: worker_pass(bayar, hours=2))
    assert (await bayar.order(order_id))["status"] == "expired"


async def test_xendit_cancelled_qr_paid_anyway(bayar: Bayar, drill: Drill) -> None:
    """Four QRIS orders cancelled in bayar (Xendit cannot cancel a QR), then paid anyway by the
    customers' wallets: two callbacks arrive, two are lost and are found by the worker's look
    after the QRs' expiry. Every payment is refunded; the orders stay cancelled."""
    books = await drill.books(bayar)
    orders = [await bayar.create_order(("cola", 1), payment_type="qris") for _ in range(4)]
    for order_id in orders:
        cancelled = await bayar.admin(order_id, "cancel")
        assert cancelled.status_code == 200, cancelled.text
    for i, order_id in enumerate(orders):
        if i % 2:
            await bayar.fault("drop")
        assert (await _pay(bayar, order_id)).status_code == 200

    async def settle() -> None:
        # The worker finds the lost payments and refunds them; Xendit makes the refunds later.
        await worker_pass(bayar, minutes=20)
        for order_id in orders:
            await _finish_refunds(bayar, order_id, "pay", some_pending=False)

    await drill.converge(books, settle)

    async def refunds_made() -> bool:  # each refund's callback reaches bayar, or the worker asks
        await worker_pass(bayar, minutes=3)
        rows = [(await bayar.order(order_id))["refunds"] for order_id in orders]
        return all([r["status"] for r in refund] == ["succeeded"] for refund in rows)

    for _ in range(50):
        if await refunds_made():
            break
    for order_id in orders:
        order = await bayar.order(order_id)
        assert order["status"] == "cancelled"
        assert [(r["amount"], r["status"]) for r in order["refunds"]] == [
            (order["gross_amount"], "succeeded")
        ]
