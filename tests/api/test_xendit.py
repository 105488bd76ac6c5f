"""Xendit behind bayar's API: the per-order `gateway` field, `POST /api/payments/xendit/callback`
(token, deduplication, refund callbacks) and the worker's expiry, through the embedded sandbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harness import Bayar
from sqlalchemy import select

from bayar.config import DEMO_XENDIT_CALLBACK_TOKEN, DEMO_XENDIT_SECRET_KEY
from bayar.payments.states import OPEN, Event, Status
from bayar.storage.models import Notification, Payment

CALLBACK = "/api/payments/xendit/callback"
TOKEN = {"x-callback-token": DEMO_XENDIT_CALLBACK_TOKEN, "Content-Type": "application/json"}


async def _xendit(bayar: Bayar, path: str, **params: str) -> Any:
    answer = await bayar.client.get(
        f"/sandbox/xendit{path}", params=params, auth=(DEMO_XENDIT_SECRET_KEY, "")
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _gateway_of(bayar: Bayar, order_id: str) -> str:
    async with bayar.db.session() as session:
        gateway = await session.scalar(select(Payment.gateway).where(Payment.order_id == order_id))
    assert gateway is not None
    return gateway


async def test_an_order_names_its_gateway(bayar: Bayar) -> None:
    shop = await bayar.create(
        ("lemon", 2),
        payment_type="snap",
        gateway="xendit",
        finish_url="http://bayar.test/orders/finish",
    )
    assert shop.status_code == 201, shop.text
    payment = shop.json()["payment"]
    assert payment["invoice_url"].startswith("http://bayar.test/sandbox/xendit/")
    assert await _gateway_of(bayar, shop.json()["order_id"]) == "xendit"
    default = await bayar.create(("lemon", 1), payment_type="snap")
    assert default.json()["payment"]["invoice_url"] is None
    assert await _gateway_of(bayar, default.json()["order_id"]) == "midtrans"
    unknown = await bayar.create(("lemon", 1), gateway="paypal")
    assert unknown.status_code == 422, unknown.text


async def test_an_unpaid_invoice_expires_at_xendit_then_here(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1), payment_type="snap", gateway="xendit")
    before = await bayar.stock("cola")
    deadline = (await bayar.db_order(order_id)).expires_at
    bayar.clock.advance(seconds=(deadline - bayar.clock()).total_seconds() + 1)
    await bayar.reconcile()
    order = await bayar.order(order_id)
    assert order["status"] == "expired"
    invoices = await _xendit(bayar, "/v2/invoices", external_id=order_id)
    assert [i["status"] for i in invoices] == ["EXPIRED"]
    assert await bayar.stock("cola") == before + 1
    operations = [c.operation for c in await bayar.gateway_calls(order_id)]
    assert "expire" in operations


async def test_callbacks_need_the_token(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1), gateway="xendit")
    body = {
        "event": "payment.succeeded",
        "data": {"id": "py-x", "reference_id": order_id, "amount": 7000, "status": "SUCCEEDED"},
    }
    for headers in ({"Content-Type": "application/json"}, {**TOKEN, "x-callback-token": "no"}):
        refused = await bayar.client.post(CALLBACK, content=json.dumps(body), headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["status"] == "bad_signature"
    malformed = await bayar.client.post(CALLBACK, content=b"[1, 2", headers=TOKEN)
    assert malformed.status_code == 400, malformed.text
    assert (await bayar.order(order_id))["status"] == "pending"
    async with bayar.db.session() as session:
        kept = (await session.scalars(select(Notification.outcome))).all()
    # The two refused bodies are the same bytes: kept once.
    assert sorted(kept) == ["bad_signature", "malformed"]


async def test_without_a_webhook_id_the_same_object_and_status_is_one_callback(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1), gateway="xendit")
    paid = await bayar.client.post(f"/sandbox/_control/xendit/{order_id}/pay")
    assert paid.status_code == 200, paid.text
    await bayar.wait_status(order_id, "paid")
    requests = await _xendit(bayar, "/payment_requests", reference_id=order_id)
    request = requests["data"][0]
    body: dict[str, Any] = {
        "event": "payment.succeeded",
        "business_id": "b",
        "created": "2026-12-06T10:00:00Z",
        "data": {**request, "payment_request_id": request["id"], "id": request["id"]},
    }
    first = await bayar.client.post(CALLBACK, content=json.dumps(body), headers=TOKEN)
    again = await bayar.client.post(
        CALLBACK, content=json.dumps({**body, "created": "2026-12-06T10:05:00Z"}), headers=TOKEN
    )
    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "duplicate"


async def test_a_refund_callback_is_answered_and_moves_nothing_back(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1), gateway="xendit")
    await bayar.client.post(f"/sandbox/_control/xendit/{order_id}/pay")
    await bayar.wait_status(order_id, "paid")
    refunded = await bayar.admin(order_id, "refund", reason="customer asked")
    assert refunded.status_code == 200, refunded.text
    request_id = (await bayar.order(order_id))["payment"]["transaction_id"]
    refunds = (await _xendit(bayar, "/refunds", payment_request_id=request_id))["data"]
    assert [r["status"] for r in refunds] == ["PENDING"]
    done = await bayar.client.post(f"/sandbox/_control/xendit/{refunds[0]['id']}/pay")
    assert done.status_code == 200, done.text
    for _ in range(500):
        log = (
            await bayar.client.get(f"/sandbox/_control/xendit/{refunds[0]['id']}/callbacks")
        ).json()
        if log and log[-1]["attempts"]:
            break
        await asyncio.sleep(0.01)
    assert log[-1]["attempts"][-1]["outcome"] == "200", log
    order = await bayar.order(order_id)
    assert order["status"] == "refunded"
    assert [r["status"] for r in order["refunds"]] == ["succeeded"]


async def test_a_cancelled_qr_paid_with_its_callback_lost_is_refunded_after_its_expiry(
    bayar: Bayar,
) -> None:
    """Xendit cannot cancel a QRIS payment request: the order is cancelled here (stock back) and
    the worker asks Xendit once more after the QR's own expiry, so a payment whose callback never
    came is found then and refunded, never kept for a cancelled order."""
    before = await bayar.stock("cola")
    order_id = await bayar.create_order(("cola", 1), payment_type="qris", gateway="xendit")

    cancelled = await bayar.admin(order_id, "cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await bayar.stock("cola") == before
    await bayar.fault("drop", count=1)  # the payment's callback is lost
    paid = await bayar.client.post(f"/sandbox/_control/xendit/{order_id}/pay")
    assert paid.status_code == 200, paid.text
    assert (await bayar.order(order_id))["refunds"] == []

    deadline = (await bayar.db_order(order_id)).expires_at
    bayar.clock.advance(seconds=(deadline - bayar.clock()).total_seconds() + 121)
    await bayar.reconcile()

    order = await bayar.order(order_id)
    assert order["status"] == "cancelled"
    assert [r["amount"] for r in order["refunds"]] == [7000]  # Xendit's to finish
    request_id = order["payment"]["transaction_id"]
    refunds = (await _xendit(bayar, "/refunds", payment_request_id=request_id))["data"]
    assert [(r["amount"], r["status"]) for r in refunds] == [(7000, "PENDING")]


async def test_a_local_close_never_cancels_an_order_paid_meanwhile(bayar: Bayar) -> None:
    """Xendit cannot cancel a QR, so a Cancel closes the order in bayar after reading Xendit's
    status. A payment can land between that read and the close: the close, under the order's
    lock, applies only to an order still open (the grid itself would let a gateway's
    `payment_cancelled` move a paid order)."""
    order_id = await bayar.create_order(("cola", 1), payment_type="qris", gateway="xendit")
    paid = await bayar.client.post(f"/sandbox/_control/xendit/{order_id}/pay")
    assert paid.status_code == 200, paid.text
    await bayar.wait_status(order_id, "paid")
    stock = await bayar.stock("cola")
    payments = bayar.context.payments
    kept = await payments.apply_event(
        order_id, Event.PAYMENT_CANCELLED, source="admin", only_from=OPEN
    )
    assert kept is not None
    assert (kept.before, kept.after, kept.changed) == (Status.PAID, Status.PAID, False)
    order = await bayar.order(order_id)
    assert (order["status"], order["refunds"]) == ("paid", [])
    assert ("paid", "cancelled") not in await bayar.transitions(order_id)
    assert await bayar.stock("cola") == stock  # the paid unit stays sold
