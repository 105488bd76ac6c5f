"""Issue 13: a refund the gateway accepts and later fails must never stay "succeeded".

Xendit answers a refund PENDING and finishes it later (`refund.succeeded` / `refund.failed`
callbacks, and its refunds list). The refund row is `pending` meanwhile and the order unchanged;
the gateway's final word moves the row (a callback confirmed by the status API, or the worker's
pass when the callback never came) and the order only when the money went back. Midtrans'
refunds are final in the answer (tests/gateways/test_contract.py keeps both)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from harness import Bayar, StartBayar
from sqlalchemy import select

from bayar.config import DEMO_XENDIT_CALLBACK_TOKEN, DEMO_XENDIT_SECRET_KEY
from bayar.payments.refund_rows import GATEWAY_FAILED
from bayar.storage import repositories as repo
from bayar.storage.models import Notification, Refund

CALLBACK = "/api/payments/xendit/callback"
WAIT = 15.0


@pytest.fixture
async def bayar(start_bayar: StartBayar) -> AsyncIterator[Bayar]:
    async with start_bayar(bayar_gateway="xendit") as running:
        yield running


async def _paid(bayar: Bayar) -> str:
    order_id = await bayar.create_order(("cola", 1))
    paid = await bayar.client.post(f"/sandbox/_control/xendit/{order_id}/pay")
    assert paid.status_code == 200, paid.text
    await bayar.wait_status(order_id, "paid")
    return order_id


async def _at_xendit(bayar: Bayar, order_id: str) -> list[dict[str, Any]]:
    """The order's refunds as Xendit lists them, newest first."""
    request_id = (await bayar.order(order_id))["payment"]["transaction_id"]
    answer = await bayar.client.get(
        "/sandbox/xendit/refunds",
        params={"payment_request_id": request_id},
        auth=(DEMO_XENDIT_SECRET_KEY, ""),
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


async def _refund_id(bayar: Bayar, order_id: str, key: str) -> str:
    found = [r["id"] for r in await _at_xendit(bayar, order_id) if r["reference_id"] == key]
    assert len(found) == 1, found
    return str(found[0])


async def _finish(bayar: Bayar, refund_id: str, action: str) -> list[dict[str, Any]]:
    """Xendit finishes the refund (`pay`: succeeded, `fail`); the log of its callback once bayar
    answered it (or the sandbox dropped it)."""
    done = await bayar.client.post(f"/sandbox/_control/xendit/{refund_id}/{action}")
    assert done.status_code == 200, done.text
    deadline = time.monotonic() + WAIT
    while True:
        answer = await bayar.client.get(f"/sandbox/_control/xendit/{refund_id}/callbacks")
        log: list[dict[str, Any]] = answer.json()
        if log and log[-1]["attempts"]:
            return log
        assert time.monotonic() < deadline, f"the refund's callback never went: {log}"
        await asyncio.sleep(0.01)


async def _rows(bayar: Bayar, order_id: str) -> list[tuple[str, int, str]]:
    return [
        (r["refund_key"], r["amount"], r["status"])
        for r in (await bayar.order(order_id))["refunds"]
    ]


async def _attention(bayar: Bayar, order_id: str) -> list[tuple[str | None, str]]:
    """The order's items on the admin's "needs attention" list: (refund key, kind)."""
    async with bayar.db.session() as session:
        found = await repo.needing_attention(session)
    return [(a.refund_key, a.kind) for a in found if a.order_id == order_id]


async def _detail(bayar: Bayar, key: str) -> str | None:
    async with bayar.db.session() as session:
        refund = await repo.refund_by_key(session, key)
    assert refund is not None
    return refund.detail


async def test_a_refund_xendit_fails_later_leaves_the_order_paid(bayar: Bayar) -> None:
    order_id = await _paid(bayar)
    first = f"k1-{order_id}"
    answer = await bayar.admin(order_id, "refund", refund_key=first, reason="asked")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["refund"]["status"], answer.json()["order_status"]) == (
        "pending",
        "paid",
    )
    assert await _rows(bayar, order_id) == [(first, 7000, "pending")]
    # While it is open, it counts as given: nothing more to refund.
    twice = await bayar.admin(order_id, "refund", reason="twice")
    assert twice.status_code == 422, twice.text

    log = await _finish(bayar, await _refund_id(bayar, order_id, first), "fail")
    assert log[-1]["attempts"][-1]["outcome"] == "200", log
    order = await bayar.order(order_id)
    assert order["status"] == "paid"  # the money is still here: kept
    assert await _rows(bayar, order_id) == [(first, 7000, "failed")]
    assert await _detail(bayar, first) == GATEWAY_FAILED
    assert not any(t[1] == "refunded" for t in await bayar.transitions(order_id))
    assert await _attention(bayar, order_id) == [(first, "failed_refund")]

    # The admin may refund again, under a new key; this time Xendit makes it.
    second = f"k2-{order_id}"
    again = await bayar.admin(order_id, "refund", refund_key=second, reason="again")
    assert again.status_code == 200, again.text
    assert again.json()["refund"]["status"] == "pending"
    # The failed one is answered; the new one is watched until Xendit finishes it.
    assert await _attention(bayar, order_id) == [(second, "unsettled_refund")]
    await _finish(bayar, await _refund_id(bayar, order_id, second), "pay")
    await bayar.wait_status(order_id, "refunded")
    assert await _rows(bayar, order_id) == [(first, 7000, "failed"), (second, 7000, "succeeded")]
    assert await _attention(bayar, order_id) == []


async def test_a_refund_xendit_makes_refunds_the_order_once(bayar: Bayar) -> None:
    """The callback moves the row and the order; the same callback again (a retry with its
    webhook-id, a copy without) changes nothing twice."""
    order_id = await _paid(bayar)
    key = f"k-{order_id}"
    assert (await bayar.admin(order_id, "refund", refund_key=key, reason="x")).status_code == 200
    assert (await bayar.order(order_id))["status"] == "paid"
    log = await _finish(bayar, await _refund_id(bayar, order_id, key), "pay")
    await bayar.wait_status(order_id, "refunded")
    assert await _rows(bayar, order_id) == [(key, 7000, "succeeded")]

    body = json.loads(log[-1]["body"])
    headers = {"Content-Type": "application/json", "x-callback-token": DEMO_XENDIT_CALLBACK_TOKEN}
    retry = await bayar.client.post(
        CALLBACK, content=json.dumps(body), headers={**headers, "webhook-id": log[-1]["event_id"]}
    )
    assert retry.json()["status"] == "duplicate", retry.text
    copy = await bayar.client.post(CALLBACK, content=json.dumps(body), headers=headers)
    assert copy.status_code == 200, copy.text
    assert copy.json()["status"] == "no_change", copy.text  # confirmed, and nothing to do
    moves = [t for t in await bayar.transitions(order_id) if t[1] == "refunded"]
    assert moves == [("paid", "refunded")]
    assert await _rows(bayar, order_id) == [(key, 7000, "succeeded")]


async def test_a_refund_callback_the_status_api_does_not_confirm_moves_nothing(
    bayar: Bayar,
) -> None:
    """A callback (right token) saying a refund failed while Xendit still lists it pending."""
    order_id = await _paid(bayar)
    key = f"k-{order_id}"
    assert (await bayar.admin(order_id, "refund", refund_key=key, reason="x")).status_code == 200
    (listed,) = await _at_xendit(bayar, order_id)
    body = {
        "event": "refund.failed",
        "business_id": "b",
        "created": listed["created"],
        "data": {**listed, "status": "FAILED", "failure_code": "REFUND_FAILED"},
    }
    headers = {"Content-Type": "application/json", "x-callback-token": DEMO_XENDIT_CALLBACK_TOKEN}
    answer = await bayar.client.post(CALLBACK, content=json.dumps(body), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "not_confirmed"
    assert await _rows(bayar, order_id) == [(key, 7000, "pending")]
    async with bayar.db.session() as session:
        kept = (await session.scalars(select(Notification.transaction_status))).all()
    assert "REFUND_FAILED" in kept


@pytest.mark.parametrize(
    ("action", "row", "order_status"),
    [("pay", "succeeded", "refunded"), ("fail", "failed", "paid")],
)
async def test_without_its_callback_the_worker_settles_a_pending_refund(
    bayar: Bayar, action: str, row: str, order_status: str
) -> None:
    order_id = await _paid(bayar)
    key = f"k-{order_id}"
    assert (await bayar.admin(order_id, "refund", refund_key=key, reason="x")).status_code == 200

    # Still pending at Xendit: the worker's pass after the grace asks, and sends nothing again.
    bayar.clock.advance(minutes=3)
    await bayar.reconcile()
    assert await _rows(bayar, order_id) == [(key, 7000, "pending")]
    assert len(await _at_xendit(bayar, order_id)) == 1
    assert [c.operation for c in await bayar.gateway_calls(order_id, "refund")] == ["refund"]

    await bayar.fault("drop")  # the callback is lost on its way
    log = await _finish(bayar, await _refund_id(bayar, order_id, key), action)
    assert log[-1]["attempts"][-1]["outcome"] == "dropped", log
    await bayar.reconcile()  # within the grace since the last look: not asked yet
    assert await _rows(bayar, order_id) == [(key, 7000, "pending")]
    bayar.clock.advance(minutes=3)
    await bayar.reconcile()
    assert await _rows(bayar, order_id) == [(key, 7000, row)]
    assert (await bayar.order(order_id))["status"] == order_status
    assert [c.operation for c in await bayar.gateway_calls(order_id, "refund")] == ["refund"]


async def test_a_refund_bayar_made_on_its_own_goes_to_a_person_when_it_fails(
    bayar: Bayar,
) -> None:
    """A late payment's refund (key `late-…`) has nobody watching it: failed at Xendit, it is
    queued for a person, who gives the money back by hand."""
    order_id = await _paid(bayar)
    key = f"late-{order_id}"
    refunds = bayar.context.payments.refunds
    made = await refunds.refund(order_id, amount=None, refund_key=key, reason="paid late")
    assert made.status == "pending"
    await _finish(bayar, await _refund_id(bayar, order_id, key), "fail")
    assert await _rows(bayar, order_id) == [(key, 7000, "manual")]
    assert await _detail(bayar, key) == GATEWAY_FAILED
    async with bayar.db.session() as session:
        (waiting,) = await repo.needing_attention(session)
    assert (waiting.order_id, waiting.refund_status) == (order_id, "manual")
    await refunds.refunded_by_hand(key, "bank transfer")
    assert (await bayar.order(order_id))["status"] == "refunded"
    async with bayar.db.session() as session:
        assert (await session.scalars(select(Refund.status))).all() == ["succeeded"]
