"""One contract of the gateway interface, kept by both gateways against their own sandboxes:
create, pay, status, refund, and callbacks duplicated, out of order and forged.

Each test runs the whole app (`bayar up` in-process: the sandbox embedded, its callbacks coming
back to bayar) once with BAYAR_GATEWAY=midtrans and once with BAYAR_GATEWAY=xendit. What differs
between the gateways (how the simulated customer pays, what a genuine callback looks like and
carries) is in `Side`; the assertions are the same for both.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from harness import Bayar, StartBayar, sign

from bayar.config import DEMO_XENDIT_CALLBACK_TOKEN, DEMO_XENDIT_SECRET_KEY
from bayar.gateways.base import GatewayEvent

GATEWAYS = ["midtrans", "xendit"]
ROUTES = {"midtrans": "/api/payments/notification", "xendit": "/api/payments/xendit/callback"}
STAMP = "2026-12-06T10:00:00.000Z"


@dataclass
class Side:
    """One gateway as the tests drive it."""

    name: str
    bayar: Bayar

    async def pay(self, order_id: str) -> None:
        """The customer pays at the gateway (its sandbox's control API)."""
        answer = await self.bayar.client.post(f"/sandbox/_control/{self.name}/{order_id}/pay")
        assert answer.status_code == 200, answer.text

    async def finish_refund(self, order_id: str, refund_key: str) -> None:
        """The gateway finishes the refund under `refund_key`: Midtrans' was final in its answer;
        Xendit's is PENDING until Xendit makes it (here its sandbox's control API), then called
        back."""
        if self.name == "midtrans":
            return
        order = await self.bayar.order(order_id)
        answer = await self.bayar.client.get(
            "/sandbox/xendit/refunds",
            params={"payment_request_id": order["payment"]["transaction_id"]},
            auth=(DEMO_XENDIT_SECRET_KEY, ""),
        )
        assert answer.status_code == 200, answer.text
        found = [r["id"] for r in answer.json()["data"] if r["reference_id"] == refund_key]
        assert len(found) == 1, answer.text
        done = await self.bayar.client.post(f"/sandbox/_control/xendit/{found[0]}/pay")
        assert done.status_code == 200, done.text

    async def deliveries(self, order_id: str) -> list[dict[str, Any]]:
        path = "notifications" if self.name == "midtrans" else "callbacks"
        answer = await self.bayar.client.get(f"/sandbox/_control/{self.name}/{order_id}/{path}")
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    def headers(
        self, delivery: dict[str, Any] | None = None, *, genuine: bool = True
    ) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.name == "xendit":
            headers["x-callback-token"] = DEMO_XENDIT_CALLBACK_TOKEN if genuine else "guessed"
            if delivery is not None and delivery.get("event_id"):
                headers["webhook-id"] = delivery["event_id"]
        return headers

    async def send(self, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.bayar.client.post(ROUTES[self.name], content=raw, headers=headers)

    def claim(
        self, order: dict[str, Any], status: str, *, transaction_id: str, genuine: bool = True
    ) -> tuple[bytes, dict[str, str]]:
        """A callback saying the order is `paid` or `pending`, written by the test: with the
        gateway's credential (`genuine`) or without it."""
        amount = order["gross_amount"]
        if self.name == "midtrans":
            midtrans_status, code = (
                ("settlement", "200") if status == "paid" else ("pending", "201")
            )
            body = {
                "order_id": order["order_id"],
                "transaction_id": transaction_id,
                "transaction_status": midtrans_status,
                "status_code": code,
                "gross_amount": f"{amount}.00",
                "payment_type": "qris",
                "currency": "IDR",
                "transaction_time": "2026-12-06 17:00:00",
                "fraud_status": "accept",
            }
            signed = sign(body) if genuine else {**body, "signature_key": "0" * 128}
            return json.dumps(signed).encode(), self.headers()
        xendit_status = "SUCCEEDED" if status == "paid" else "PENDING"
        callback = {
            "event": "payment.succeeded" if status == "paid" else "payment.pending",
            "business_id": "5f27a14a9bf05c73dd040bc8",
            "created": STAMP,
            "data": {
                "id": f"py-{transaction_id}",
                "payment_request_id": transaction_id,
                "reference_id": order["order_id"],
                "currency": "IDR",
                "amount": amount,
                "country": "ID",
                "status": xendit_status,
                "created": STAMP,
                "updated": STAMP,
            },
        }
        return json.dumps(callback).encode(), self.headers(genuine=genuine)


@pytest.fixture(params=GATEWAYS)
async def side(request: pytest.FixtureRequest, start_bayar: StartBayar) -> AsyncIterator[Side]:
    async with start_bayar(bayar_gateway=request.param) as bayar:
        yield Side(request.param, bayar)


async def _paid(side: Side) -> dict[str, Any]:
    order_id = await side.bayar.create_order(("cola", 1), payment_type="qris")
    await side.pay(order_id)
    return await side.bayar.wait_status(order_id, "paid")


async def test_create_pay_status_refund(side: Side) -> None:
    bayar = side.bayar
    answer = await bayar.create(("cola", 1), payment_type="qris")
    assert answer.status_code == 201, answer.text
    order_id = answer.json()["order_id"]
    assert answer.json()["payment"]["qr_string"].startswith("000201")  # an EMV QRIS payload
    gateway = bayar.context.payments.gateway
    pending = await gateway.status(order_id)
    assert (pending.order_id, pending.event) == (order_id, GatewayEvent.PENDING)
    assert pending.payment_type == "qris"

    await side.pay(order_id)
    order = await bayar.wait_status(order_id, "paid")
    paid = await gateway.status(order_id)
    assert paid.event is GatewayEvent.SUCCEEDED
    assert paid.gross_amount == order["gross_amount"]

    refunded = await bayar.admin(order_id, "refund", refund_key=f"r-{order_id}", reason="test")
    assert refunded.status_code == 200, refunded.text
    # Midtrans refunds at once; Xendit says PENDING, and the order waits for the money to go.
    said = refunded.json()
    if side.name == "xendit":
        assert (said["refund"]["status"], said["order_status"]) == ("pending", "paid")
    else:
        assert (said["refund"]["status"], said["order_status"]) == ("succeeded", "refunded")
    await side.finish_refund(order_id, f"r-{order_id}")
    order = await bayar.wait_status(order_id, "refunded")
    assert [r["status"] for r in order["refunds"]] == ["succeeded"]
    after = await gateway.status(order_id)
    assert after.event is GatewayEvent.REFUNDED
    assert [(r.refund_key, r.amount) for r in after.refunds] == [
        (f"r-{order_id}", order["gross_amount"])
    ]
    # The same key again refunds nothing more.
    again = await bayar.admin(order_id, "refund", refund_key=f"r-{order_id}", reason="test")
    assert again.status_code == 200, again.text
    assert (await gateway.status(order_id)).refunded_amount == order["gross_amount"]


async def test_the_shop_gets_a_payment_page(side: Side) -> None:
    answer = await side.bayar.create(
        ("cola", 1), payment_type="snap", finish_url="http://bayar.test/orders/finish"
    )
    assert answer.status_code == 201, answer.text
    payment = answer.json()["payment"]
    assert payment["redirect_url"].startswith("http://bayar.test/sandbox/")
    if side.name == "xendit":
        assert payment["invoice_url"] == payment["redirect_url"]
        order_id = answer.json()["order_id"]
        found = await side.bayar.client.get(f"/sandbox/_control/xendit/{order_id}")
        invoice = found.json()["object"]
        back = f"http://bayar.test/orders/finish?order_id={order_id}"
        assert (invoice["success_redirect_url"], invoice["failure_redirect_url"]) == (back, back)
    else:
        assert payment["token"]


async def test_a_callback_delivered_twice_is_applied_once(side: Side) -> None:
    order = await _paid(side)
    order_id = order["order_id"]
    deliveries = await side.deliveries(order_id)
    paid = [d for d in deliveries if d["transaction_status"] in ("settlement", "SUCCEEDED")]
    assert paid, deliveries
    again = await side.send(paid[-1]["body"].encode(), side.headers(paid[-1]))
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "duplicate"
    order = await side.bayar.order(order_id)
    assert order["status"] == "paid"
    assert [h["to_status"] for h in order["history"]].count("paid") == 1


async def test_a_late_pending_callback_does_not_undo_paid(side: Side) -> None:
    order = await _paid(side)
    transaction_id = order["payment"]["transaction_id"]
    raw, headers = side.claim(order, "pending", transaction_id=transaction_id)
    answer = await side.send(raw, headers)
    assert answer.status_code == 200, answer.text
    assert (await side.bayar.order(order["order_id"]))["status"] == "paid"


async def test_forged_callbacks_move_nothing(side: Side) -> None:
    bayar = side.bayar
    answer = await bayar.create(("cola", 1), payment_type="qris")
    order = answer.json()
    transaction_id = order["payment"]["transaction_id"]

    raw, headers = side.claim(order, "paid", transaction_id=transaction_id, genuine=False)
    forged = await side.send(raw, headers)
    assert forged.status_code == 401, forged.text

    # With the right credential, a claim the gateway's API does not confirm is not applied.
    raw, headers = side.claim(order, "paid", transaction_id=transaction_id)
    unconfirmed = await side.send(raw, headers)
    assert unconfirmed.status_code == 200, unconfirmed.text
    assert unconfirmed.json()["status"] == "not_confirmed"
    assert (await bayar.order(order["order_id"]))["status"] == "pending"
