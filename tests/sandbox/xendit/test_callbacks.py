"""Xendit's callbacks at the HTTP level: the token and webhook-id, their bodies (read back with the
SDK's own callback models), Xendit's retry schedule on the sandbox clock, and the fault knobs."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import xendit
from xendit.apis import InvoiceApi, PaymentRequestApi, RefundApi
from xendit.invoice.model.invoice_callback import InvoiceCallback
from xendit.model_utils import validate_and_convert_types
from xendit.payment_request.model.payment_callback import PaymentCallback
from xendit.refund.model.refund_callback import RefundCallback

from bayar.config import DEMO_XENDIT_CALLBACK_TOKEN

if TYPE_CHECKING:
    from tests.sandbox.conftest import Received, Receiver


def _control(root: str, path: str, **body: Any) -> Any:
    answer = httpx.post(f"{root}/_control/{path}", json=body or None)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _invoice(client: xendit.ApiClient, external_id: str | None = None, **extra: Any) -> Any:
    body = {"external_id": external_id or f"cb-{uuid.uuid4().hex[:10]}", "amount": 42000, **extra}
    return InvoiceApi(client).create_invoice(body)


def _parsed(model: type, received: Received) -> Any:
    """The body as the SDK's callback model reads it (ints converted, as the reference says)."""
    return validate_and_convert_types(
        json.loads(received.body), (model,), ["payload"], True, True, xendit.Configuration()
    )


def _log(root: str, id_: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{root}/_control/xendit/{id_}/callbacks")
    answer.raise_for_status()
    log: list[dict[str, Any]] = answer.json()
    return log


def _wait_log(
    root: str, id_: str, ready: Callable[[list[dict[str, Any]]], object]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        log = _log(root, id_)
        if ready(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def test_paid_invoice_callback_carries_the_token_and_a_webhook_id(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    invoice = _invoice(client, payer_email="budi@example.com")
    assert receiver.wait_for(1, timeout=0.3) == []  # creating an invoice sends nothing
    _control(root, f"xendit/{invoice.id}/pay?channel=OVO")
    [got] = receiver.wait_for(1)
    assert got.path == "/xendit"
    assert got.headers["x-callback-token"] == DEMO_XENDIT_CALLBACK_TOKEN
    assert got.headers["webhook-id"]
    assert got.headers["content-type"] == "application/json"
    callback = _parsed(InvoiceCallback, got)
    assert (callback.id, callback.external_id, callback.status) == (
        invoice.id,
        invoice.external_id,
        "PAID",
    )
    assert callback.amount == 42000.0
    assert callback.paid_amount == 42000.0
    assert (callback.payment_method, callback.payment_channel) == ("EWALLET", "OVO")
    assert callback.ewallet_type == "OVO"
    assert callback.payer_email == "budi@example.com"


def test_expired_invoice_callback_is_sent_unless_switched_off(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    first = _invoice(client)
    InvoiceApi(client).expire_invoice(first.id)
    [got] = receiver.wait_for(1)
    callback = _parsed(InvoiceCallback, got)
    assert (callback.id, callback.status) == (first.id, "EXPIRED")
    assert "paid_at" not in json.loads(got.body)
    httpx.put(
        f"{root}/_control/config", json={"xendit_invoice_expired_callback": False}
    ).raise_for_status()
    second = _invoice(client, invoice_duration=60)
    _control(root, "clock", advance=61)
    deadline = time.monotonic() + 3
    while str(InvoiceApi(client).get_invoice_by_id(second.id).status) != "EXPIRED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert len(receiver.wait_for(2, timeout=0.5)) == 1


def test_payment_request_and_refund_callbacks_use_their_own_urls(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    httpx.put(
        f"{root}/_control/config",
        json={
            "xendit_payment_request_callback_url": f"{receiver.url}/qr",
            "xendit_refund_callback_url": f"{receiver.url}/refunds",
        },
    ).raise_for_status()
    reference = f"kiosk-{uuid.uuid4().hex[:8]}"
    created = PaymentRequestApi(client).create_payment_request(
        payment_request_parameters={
            "reference_id": reference,
            "amount": 8000,
            "currency": "IDR",
            "payment_method": {
                "type": "QR_CODE",
                "reusability": "ONE_TIME_USE",
                "qr_code": {"channel_code": "QRIS"},
            },
        }
    )
    PaymentRequestApi(client).simulate_payment_request_payment(created.id)
    [paid] = receiver.wait_for(1, path="/qr")
    callback = _parsed(PaymentCallback, paid)
    assert callback.event == "payment.succeeded"
    assert callback.data.payment_request_id == created.id
    assert callback.data.reference_id == reference
    assert (callback.data.status, callback.data.amount) == ("SUCCEEDED", 8000.0)
    assert callback.data.id.startswith("py-")

    refund = RefundApi(client).create_refund(
        create_refund={"payment_request_id": created.id, "reason": "REQUESTED_BY_CUSTOMER"}
    )
    _control(root, f"xendit/{refund.id}/pay")
    [done] = receiver.wait_for(1, path="/refunds")
    refunded = _parsed(RefundCallback, done)
    assert refunded.event == "refund.succeeded"
    assert (refunded.data.id, refunded.data.status) == (refund.id, "SUCCEEDED")
    assert refunded.data.payment_id == callback.data.id
    assert done.headers["x-callback-token"] == DEMO_XENDIT_CALLBACK_TOKEN


def test_an_expired_qr_sends_payment_request_expiry(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    created = PaymentRequestApi(client).create_payment_request(
        payment_request_parameters={
            "amount": 5000,
            "currency": "IDR",
            "payment_method": {
                "type": "QR_CODE",
                "reusability": "ONE_TIME_USE",
                "qr_code": {"channel_code": "QRIS"},
            },
        }
    )
    _control(root, "clock", advance=48 * 3600)
    [got] = receiver.wait_for(1)
    body = json.loads(got.body)
    assert body["event"] == "payment_request.expiry"
    assert (body["data"]["id"], body["data"]["status"]) == (created.id, "EXPIRED")


def test_failed_callbacks_are_retried_on_xendits_schedule_with_one_webhook_id(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    receiver.script.extend([500] * 10)
    invoice = _invoice(client)
    _control(root, f"xendit/{invoice.id}/pay")
    _wait_log(root, invoice.id, lambda log: log and len(log[0]["attempts"]) == 1)
    for minutes in (15, 45, 120, 180, 360, 720):  # 6 retries over 24 hours
        before = len(_log(root, invoice.id)[0]["attempts"])
        _control(root, "clock", advance=minutes * 60 - 5)
        time.sleep(0.15)
        assert len(_log(root, invoice.id)[0]["attempts"]) == before, "retried before its time"
        _control(root, "clock", advance=5)
        log = _wait_log(root, invoice.id, lambda log: len(log[0]["attempts"]) > before)  # noqa: B023
        assert len(log[0]["attempts"]) == before + 1
    _control(root, "clock", advance=24 * 3600)  # then no more
    [delivery] = _wait_log(root, invoice.id, lambda log: log[0]["state"] == "failed")
    assert [a["outcome"] for a in delivery["attempts"]] == ["500"] * 7
    got = receiver.wait_for(7)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1


def test_a_retry_that_succeeds_ends_the_delivery(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    receiver.script.append(503)
    invoice = _invoice(client)
    _control(root, f"xendit/{invoice.id}/pay")
    _wait_log(root, invoice.id, lambda log: log and log[0]["attempts"])
    _control(root, "clock", advance=15 * 60)
    [delivery] = _wait_log(root, invoice.id, lambda log: log[0]["state"] == "delivered")
    assert [a["outcome"] for a in delivery["attempts"]] == ["503", "200"]


def test_no_callback_url_sends_nothing(client: xendit.ApiClient, root: str) -> None:
    httpx.put(
        f"{root}/_control/config", json={"xendit_invoice_callback_url": "http://127.0.0.1:9/x"}
    ).raise_for_status()
    _control(root, "clock", scale=100000)  # the whole 24-hour schedule in a second
    invoice = _invoice(client)
    _control(root, f"xendit/{invoice.id}/pay")
    [delivery] = _wait_log(root, invoice.id, lambda log: log and log[0]["state"] == "failed")
    assert [a["outcome"] for a in delivery["attempts"]] == ["connection error"] * 7


# -- faults ---------------------------------------------------------------------------------------


def test_fault_duplicate_delivers_the_same_event_twice(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    _control(root, "faults", kind="duplicate", count=1)
    invoice = _invoice(client)
    _control(root, f"xendit/{invoice.id}/pay")
    first, second = receiver.wait_for(2)
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_fault_out_of_order_resends_a_stale_callback_of_the_same_external_id(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    external_id = f"ooo-{uuid.uuid4().hex[:8]}"
    old = _invoice(client, external_id)
    InvoiceApi(client).expire_invoice(old.id)
    receiver.wait_for(1)
    new = _invoice(client, external_id)  # the same external_id again: not unique at Xendit
    _control(root, "faults", kind="out_of_order")
    _control(root, f"xendit/{new.id}/pay")
    got = receiver.wait_for(3)
    bodies = [json.loads(r.body) for r in got]
    assert [(b["id"], b["status"]) for b in bodies] == [
        (old.id, "EXPIRED"),
        (new.id, "PAID"),
        (old.id, "EXPIRED"),
    ]
    assert got[2].headers["webhook-id"] == got[0].headers["webhook-id"]


def test_fault_drop_and_delay(client: xendit.ApiClient, root: str, receiver: Receiver) -> None:
    _control(root, "faults", kind="drop")
    dropped = _invoice(client)
    _control(root, f"xendit/{dropped.id}/pay")
    assert receiver.wait_for(1, timeout=0.5) == []
    assert [d["state"] for d in _log(root, dropped.id)] == ["dropped"]

    _control(root, "faults", kind="delay", seconds=120)
    late = _invoice(client)
    _control(root, f"xendit/{late.id}/pay")
    assert receiver.wait_for(1, timeout=0.5) == []
    _control(root, "clock", advance=120)
    [got] = receiver.wait_for(1)
    assert json.loads(got.body)["id"] == late.id


@pytest.mark.parametrize("product", ["invoice", "payment_request", "refund"])
def test_callback_url_settings_must_be_urls(root: str, product: str) -> None:
    answer = httpx.put(
        f"{root}/_control/config", json={f"xendit_{product}_callback_url": "ftp://nope"}
    )
    assert answer.status_code == 400


def test_fault_out_of_order_resends_the_paid_invoice_after_its_refund(
    client: xendit.ApiClient, root: str, receiver: Receiver
) -> None:
    invoice = _invoice(client)
    _control(root, f"xendit/{invoice.id}/pay")  # QRIS: refundable
    receiver.wait_for(1)
    refund = RefundApi(client).create_refund(
        create_refund={"invoice_id": invoice.id, "reason": "CANCELLATION"}
    )
    _control(root, "faults", kind="out_of_order")
    _control(root, f"xendit/{refund.id}/pay")
    bodies = [json.loads(r.body) for r in receiver.wait_for(3)]
    assert [b.get("event") or b["status"] for b in bodies] == ["PAID", "refund.succeeded", "PAID"]
    assert bodies[2] == bodies[0]
