"""Drills on the in-process app (SQLite, in-process bus, the sandbox mounted at /sandbox, a fake
clock): duplicates, reordering, replays, the last units, cancel racing pay. Each ends with the books.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from harness import Bayar
from steps import genuine_body, worker_pass

if TYPE_CHECKING:  # the fixtures' types; tests/drills is on the path, so its conftest is `conftest`
    from conftest import Drill


async def test_duplicates_x20_concurrent(bayar: Bayar, drill: Drill) -> None:
    """The settlement notification of each order, dropped on its way, then sent 20 times at once:
    applied once."""
    books = await drill.books(bayar)
    orders = [await bayar.create_order(("cola", 1)) for _ in range(3)]
    for order_id in orders:
        await bayar.fault("drop")
        await bayar.pay(order_id)
        await bayar.delivered(order_id, 2)
        assert (await bayar.order(order_id))["status"] == "pending"
    bodies = [await genuine_body(bayar, order_id, "settlement") for order_id in orders]
    answers = await asyncio.gather(*(bayar.notify(body) for body in bodies for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    for order_id in orders:
        moves = [t for t in await bayar.transitions(order_id) if t[1] == "paid"]
        assert moves == [("pending", "paid")]
    await drill.converge(books)


async def test_pending_after_settlement(bayar: Bayar, drill: Drill) -> None:
    """Notifications out of order: the pending one arrives after the settlement, twice."""
    books = await drill.books(bayar)
    order_id = await bayar.create_order(("cola", 1))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    pending = await genuine_body(bayar, order_id, "pending")
    for _ in range(2):
        assert (await bayar.notify(pending)).status_code == 200
    assert (await bayar.order(order_id))["status"] == "paid"
    await drill.converge(books)


async def test_replay_after_refund(bayar: Bayar, drill: Drill) -> None:
    """The settlement and pending notifications replayed after a full refund change nothing."""
    books = await drill.books(bayar)
    order_id = await bayar.create_order(("cola", 1))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    refunded = await bayar.admin(order_id, "refund", reason="drill")
    assert refunded.status_code == 200, refunded.text
    await bayar.wait_status(order_id, "refunded")
    for status in ("settlement", "pending", "settlement"):
        assert (await bayar.notify(await genuine_body(bayar, order_id, status))).status_code == 200
    assert (await bayar.order(order_id))["status"] == "refunded"
    await drill.converge(books, lambda: worker_pass(bayar))


async def test_replay_after_expiry(bayar: Bayar, drill: Drill) -> None:
    """An order the worker expired at the gateway; its pending notification replayed."""
    books = await drill.books(bayar)
    order_id = await bayar.create_order(("cola", 1))
    pending = await genuine_body(bayar, order_id, "pending")
    bayar.clock.advance(hours=2)  # past the QR's window and any hold
    await worker_pass(bayar)
    await bayar.wait_status(order_id, "expired")
    assert (await bayar.notify(pending)).status_code == 200
    assert (await bayar.order(order_id))["status"] == "expired"
    await drill.converge(books, lambda: worker_pass(bayar))


async def test_last_units_50_buyers_10_units(bayar: Bayar, drill: Drill) -> None:
    await bayar.set_stock("cola", 10)
    books = await drill.books(bayar)
    answers = await asyncio.gather(*(bayar.create(("cola", 1)) for _ in range(50)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 10, codes
    assert codes.count(409) == 40, codes
    assert await bayar.stock("cola") == 0
    sold = [a.json()["order_id"] for a in answers if a.status_code == 201]
    for order_id in sold:
        await bayar.pay(order_id)
    for order_id in sold:
        await bayar.wait_status(order_id, "paid")
    await drill.converge(books)


async def test_cancel_racing_pay(bayar: Bayar, drill: Drill) -> None:
    """An admin cancel and the customer's payment at once, for ten orders, both ways round: the
    payment lands first, or the gateway cancels first and the customer's payment is refused
    while bayar still waits for the cancel's answer. Each order ends as the gateway says."""
    books = await drill.books(bayar)
    orders = [await bayar.create_order(("cola", 1)) for _ in range(10)]

    async def pay(order_id: str) -> int:
        answer = await bayar.client.post(f"/sandbox/_control/midtrans/{order_id}/pay")
        return answer.status_code

    async def cancelled_at_gateway(order_id: str) -> None:
        deadline = time.monotonic() + 5
        while (await bayar.gateway_status(order_id)).json()["transaction_status"] != "cancel":
            assert time.monotonic() < deadline, f"{order_id} never cancelled at the gateway"
            await asyncio.sleep(0.01)

    outcomes = []
    for i, order_id in enumerate(orders):
        if i % 2:
            await bayar.fault("api_hang", seconds=0.3)  # the cancel is made, its answer late
            cancel = asyncio.create_task(bayar.admin(order_id, "cancel"))
            await cancelled_at_gateway(order_id)
            paid = await pay(order_id)
            outcomes.append(((await cancel).status_code, paid))
        else:
            cancelled, paid = await asyncio.gather(bayar.admin(order_id, "cancel"), pay(order_id))
            outcomes.append((cancelled.status_code, paid))
    assert set(outcomes) == {(200, 409), (409, 200)}, outcomes
    await drill.converge(books, lambda: worker_pass(bayar))
