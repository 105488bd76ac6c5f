"""One drill per problem of issue 8 ("Money safety") that the books can see, on the in-process app
(SQLite, a fake clock). Written against the interface the fixes agree on; each fails on the code
before them, for the reason the issue gives, and ends with the books.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import httpx
from harness import Bayar, StartBayar
from sqlalchemy import select
from steps import genuine_body, worker_pass

from bayar.storage.models import Refund
from bayar.vending.machines import create_machine

if TYPE_CHECKING:  # the fixtures' types; tests/drills is on the path, so its conftest is `conftest`
    from conftest import Drill

KIOSK_HEADER = "X-Kiosk-Token"
# A machine that holds both drinks: a two-line order is refused for being two lines.
SLOTS = [("A1", "cola", 5, 5), ("A2", "lemon", 5, 5)]
VISA_ACCEPT = "4411111111111118"  # a test card the sandbox accepts at once (no 3DS)


async def kiosk_create(
    bayar: Bayar, machine_id: str, token: str | None, *items: tuple[str, int]
) -> httpx.Response:
    headers = {KIOSK_HEADER: token} if token is not None else {}
    return await bayar.client.post(
        "/api/payments/create-transaction",
        json={
            "items": [{"product_id": p, "quantity": q} for p, q in items],
            "payment_type": "qris",
            "machine_id": machine_id,
        },
        headers=headers,
    )


# -- 2. notifications trusted beyond their signature --------------------------------------------


async def test_tampered_status_on_a_genuine_body(bayar: Bayar, drill: Drill) -> None:
    """A genuine notification with only `transaction_status` changed (the signature does not
    cover it): a paid order is not cancelled or refunded by it, a pending order is not failed
    by a forged "deny" and can still be paid."""
    books = await drill.books(bayar)
    cancelled, refunded, denied = [await bayar.create_order(("cola", 1)) for _ in range(3)]
    for order_id in (cancelled, refunded):
        await bayar.pay(order_id)
        await bayar.wait_status(order_id, "paid")
    for order_id, forged in ((cancelled, "cancel"), (refunded, "refund")):
        body = await genuine_body(bayar, order_id, "settlement")
        await bayar.notify({**body, "transaction_status": forged})
    pending = await genuine_body(bayar, denied, "pending")
    await bayar.notify({**pending, "transaction_status": "deny"})
    after_forgery = (await bayar.order(denied))["status"]
    await bayar.pay(denied)  # the QR is still valid at the gateway: the customer pays it
    await drill.converge(books, lambda: worker_pass(bayar))
    assert after_forgery == "pending", "a forged deny failed the order"
    for order_id in (cancelled, refunded, denied):
        assert (await bayar.order(order_id))["status"] == "paid"


# -- 3. anyone can create kiosk orders -----------------------------------------------------------


async def test_kiosk_orders_only_from_an_authenticated_kiosk(bayar: Bayar, drill: Drill) -> None:
    token = await create_machine(bayar.db, "drill-k1", "Drill", "Lab", SLOTS)
    books = await drill.books(bayar)
    refused = {
        "anonymous": await kiosk_create(bayar, "drill-k1", None, ("cola", 1)),
        "unknown machine": await kiosk_create(bayar, "no-such-machine", token, ("cola", 1)),
        "three units": await kiosk_create(bayar, "drill-k1", token, ("cola", 3)),
        "two lines": await kiosk_create(bayar, "drill-k1", token, ("cola", 1), ("lemon", 1)),
    }
    codes = {why: answer.status_code for why, answer in refused.items()}
    assert codes == {
        "anonymous": 401,
        "unknown machine": 422,
        "three units": 422,
        "two lines": 422,
    }, {why: answer.text for why, answer in refused.items()}
    for answer in refused.values():
        assert set(answer.json()) == {"detail"}
        assert isinstance(answer.json()["detail"], str)
    assert await bayar.count_orders() == 0
    # The kiosk itself, with its token, still sells one unit.
    one = await kiosk_create(bayar, "drill-k1", token, ("cola", 1))
    assert one.status_code == 201, one.text
    await drill.converge(books)


# -- 4. a kiosk order paid while its kiosk is offline --------------------------------------------


async def test_kiosk_order_paid_while_the_kiosk_is_offline(
    start_drill_bayar: StartBayar, drill: Drill
) -> None:
    """The machine never comes back: once BAYAR_KIOSK_OFFLINE_REFUND has passed, the worker
    refunds the paid unit instead of leaving it paid forever."""
    async with start_drill_bayar(bayar_kiosk_offline_refund=60.0) as bayar:
        token = await create_machine(bayar.db, "drill-k2", "Drill", "Lab", [("A1", "cola", 5, 5)])
        books = await drill.books(bayar)
        first = await kiosk_create(bayar, "drill-k2", token, ("cola", 1))
        assert first.status_code == 201, first.text
        order_id = first.json()["order_id"]
        await bayar.pay(order_id)
        await bayar.wait_status(order_id, "paid")
        # A newer order of the same machine (the case), never paid.
        newer = await kiosk_create(bayar, "drill-k2", token, ("cola", 1))
        assert newer.status_code == 201, newer.text
        await drill.converge(books, lambda: worker_pass(bayar, seconds=61))
        assert (await bayar.order(order_id))["status"] == "refunded"


# -- 5. money for a closed order -----------------------------------------------------------------


async def late_payment(bayar: Bayar, drill: Drill, payment_type: str) -> str:
    """A Snap order bayar expired while its payment page was still open, then paid there."""
    books = await drill.books(bayar)
    order_id = await bayar.create_order(("cola", 1), payment_type="snap")
    await worker_pass(bayar, hours=3)  # well past the order's deadline and any grace period
    assert (await bayar.order(order_id))["status"] in ("pending", "expired")
    paid = await bayar.client.post(
        f"/sandbox/_control/midtrans/{order_id}/pay", params={"payment_type": payment_type}
    )
    if paid.status_code == 200 and paid.json()["transaction_status"] == "pending":
        paid = await bayar.client.post(f"/sandbox/_control/midtrans/{order_id}/pay")
    # The Snap page outlived bayar's order (no method was chosen, so the gateway had nothing to
    # expire): the gateway took the money.
    assert paid.status_code == 200, paid.text
    assert paid.json()["transaction_status"] == "settlement", paid.text
    await drill.converge(books, lambda: worker_pass(bayar, minutes=1))
    assert (await bayar.order(order_id))["status"] == "expired"
    return order_id


async def test_payment_after_expiry_is_refunded_qris(bayar: Bayar, drill: Drill) -> None:
    order_id = await late_payment(bayar, drill, "qris")
    found = (await bayar.gateway_status(order_id)).json()
    assert found.get("transaction_status") == "refund", found  # given back by the gateway


async def test_payment_after_expiry_is_queued_for_manual_refund_bank_transfer(
    bayar: Bayar, drill: Drill
) -> None:
    order_id = await late_payment(bayar, drill, "bank_transfer")
    found = (await bayar.gateway_status(order_id)).json()
    assert found.get("transaction_status") == "settlement", found  # Midtrans cannot refund it
    async with bayar.db.session() as session:
        rows = (
            (await session.execute(select(Refund).where(Refund.order_id == order_id)))
            .scalars()
            .all()
        )
    assert [r.status for r in rows] == ["manual"], rows


# -- 6. a refund whose answer was lost -----------------------------------------------------------


async def test_refund_whose_answer_was_lost(start_drill_bayar: StartBayar, drill: Drill) -> None:
    """The gateway refunds, its answer never reaches bayar (timeout): the worker reconciles the
    order to refunded and the refund row to succeeded."""
    async with start_drill_bayar(midtrans_timeout_seconds=0.3) as bayar:
        books = await drill.books(bayar)
        order_id = await bayar.create_order(("cola", 1))
        await bayar.pay(order_id)
        await bayar.wait_status(order_id, "paid")
        await bayar.fault("api_hang", seconds=1.0)  # the refund is made, its answer is late
        await bayar.fault("drop", count=5)  # and its notifications lost on the way
        lost = await bayar.admin(order_id, "refund", reason="drill")
        assert lost.status_code == 503, lost.text
        assert set(lost.json()) >= {"detail"}
        await drill.converge(books, lambda: worker_pass(bayar, minutes=1))
        async with bayar.db.session() as session:
            rows = (
                (await session.execute(select(Refund).where(Refund.order_id == order_id)))
                .scalars()
                .all()
            )
        assert [r.status for r in rows] == ["succeeded"], rows


# -- 7. a retry during a slow create ---------------------------------------------------------------


async def test_retry_during_a_slow_snap_create(bayar: Bayar, drill: Drill) -> None:
    """The first create-transaction hangs at the gateway; the client retries with the same
    Idempotency-Key meanwhile. The payment bayar keeps (and hands out) is the live one."""
    books = await drill.books(bayar)
    await bayar.fault("api_hang", seconds=1.0)
    first = asyncio.create_task(bayar.create(("cola", 1), payment_type="snap", key="drill-k7"))
    deadline = time.monotonic() + 5
    while await bayar.count_orders() == 0:  # the first request has its order, and is waiting
        assert time.monotonic() < deadline, "the first create never made its order"
        await asyncio.sleep(0.01)
    second = await bayar.create(("cola", 1), payment_type="snap", key="drill-k7")
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(first), 10)
    answers = [first.result(), second]
    assert {a.json()["order_id"] for a in answers if a.status_code < 300} == {
        answers[0].json()["order_id"]
    }, [a.text for a in answers]
    order_id = answers[0].json()["order_id"]
    payment = (await bayar.order(order_id))["payment"]
    assert payment is not None, "no payment handed out"
    assert payment["token"], payment
    page = await bayar.client.get(f"/sandbox/midtrans/snap/v2/vtweb/{payment['token']}")
    assert page.status_code == 200, f"the payment link bayar hands out answers {page.status_code}"
    await bayar.pay_by_card(payment["token"], VISA_ACCEPT)
    await drill.converge(books, lambda: worker_pass(bayar))
    assert (await bayar.order(order_id))["status"] == "paid"
