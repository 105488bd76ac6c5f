"""Every rupiah has a home (DESIGN rule 10, issue 8 problems 5 and 6): money that arrives for a
closed order goes back (or to a person), and a refund whose answer was lost is reconciled. The
books are checked against the sandbox: order and payment status, refunds, stock."""

from __future__ import annotations

import json

import pytest
from harness import Bayar

from bayar.payments.errors import NotAllowed
from bayar.storage import repositories as repo
from bayar.storage.models import Refund


async def _expired_snap_order(bayar: Bayar) -> tuple[str, int]:
    """A Snap order whose customer never chose a method, expired here after its deadline and
    grace, while the gateway's payment page is still open (the sandbox runs on its own clock, as
    a gateway whose clock is ahead of ours would): (order id, cola stock after the expiry)."""
    created = await bayar.create(("cola", 1), payment_type="snap")
    assert created.status_code == 201, created.text
    order_id: str = created.json()["order_id"]
    bayar.clock.advance(minutes=63)
    await bayar.reconcile()
    assert (await bayar.order(order_id))["status"] == "expired"
    return order_id, await bayar.stock("cola")


async def _attention(bayar: Bayar) -> list[repo.Attention]:
    async with bayar.db.session() as session:
        return await repo.needing_attention(session)


async def test_a_payment_for_an_expired_order_is_refunded_by_the_gateway(bayar: Bayar) -> None:
    """Issue 8, problem 5: the customer paid an order bayar had expired; nothing refunded it."""
    order_id, stock = await _expired_snap_order(bayar)

    await bayar.pay(order_id, payment_type="qris")  # the still open Snap page takes the money
    log = await bayar.delivered(order_id, count=4)  # pending, settlement, the refund (twice)

    assert [d["transaction_status"] for d in log] == ["pending", "settlement", "refund", "refund"]
    gateway = (await bayar.gateway_status(order_id)).json()
    assert gateway["transaction_status"] == "refund"
    assert gateway["refunds"][0]["refund_key"] == f"late-{order_id}"
    order = await bayar.order(order_id)
    assert order["status"] == "expired"  # never sold: the unit stays on sale
    assert order["payment"]["status"] == "refund"
    assert [(r["refund_key"], r["amount"], r["status"]) for r in order["refunds"]] == [
        (f"late-{order_id}", 7000, "succeeded")
    ]
    assert await bayar.stock("cola") == stock
    (late,) = await _attention(bayar)
    assert (late.order_id, late.kind, late.amount, late.refund_status) == (
        order_id,
        "late_payment",
        7000,
        "succeeded",
    )


async def test_a_late_bank_transfer_is_queued_for_a_manual_refund(bayar: Bayar) -> None:
    order_id, stock = await _expired_snap_order(bayar)

    await bayar.pay(order_id, payment_type="bank_transfer")
    await bayar.delivered(order_id, count=2)  # pending, settlement

    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "settlement"
    order = await bayar.order(order_id)
    assert order["status"] == "expired"
    assert order["payment"]["status"] == "settlement"
    assert [(r["amount"], r["status"]) for r in order["refunds"]] == [(7000, "manual")]
    assert await bayar.gateway_calls(order_id, "refund") == []
    assert await bayar.stock("cola") == stock
    (late,) = await _attention(bayar)
    assert (late.kind, late.refund_status, late.amount) == ("late_payment", "manual", 7000)


async def test_a_late_payment_the_gateway_could_not_confirm_is_refunded_by_the_worker(
    bayar: Bayar,
) -> None:
    order_id, _ = await _expired_snap_order(bayar)
    await bayar.fault("api_error", status=503, count=1)  # the status call confirming it

    await bayar.pay(order_id, payment_type="gopay")
    log = await bayar.delivered(order_id, count=2)

    assert json.loads(log[-1]["attempts"][-1]["detail"])["status"] == "unconfirmed"
    assert (await bayar.order(order_id))["refunds"] == []

    bayar.clock.advance(minutes=1)
    await bayar.reconcile()

    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "refund"
    assert [r["status"] for r in (await bayar.order(order_id))["refunds"]] == ["succeeded"]


async def test_a_late_payment_whose_notification_was_lost_is_found_by_the_worker(
    bayar: Bayar,
) -> None:
    """An order closed without the gateway (it had no transaction) is asked about once more
    after the gateway's own deadline: a payment made meanwhile is found and refunded."""
    order_id, _ = await _expired_snap_order(bayar)
    await bayar.fault("drop", count=2)

    await bayar.pay(order_id, payment_type="qris")
    await bayar.delivered(order_id, count=2)
    assert (await bayar.order(order_id))["refunds"] == []

    bayar.clock.advance(minutes=3)
    await bayar.reconcile()

    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "refund"
    order = await bayar.order(order_id)
    assert (order["status"], order["payment"]["status"]) == ("expired", "refund")
    assert [r["status"] for r in order["refunds"]] == ["succeeded"]


async def test_a_refund_whose_answer_was_lost_is_reconciled(bayar: Bayar) -> None:
    """Issue 8, problem 6: bayar said paid, the gateway said refunded, for ever."""
    order_id = await bayar.create_order(("cola", 2))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    await bayar.delivered(order_id, count=2)
    await bayar.fault("drop", count=2)  # the refund's two notifications never arrive...
    # ...and the refund's answer is lost: the gateway refunds, its 500 hides it.
    refunded_at_gateway = await bayar.client.post(
        f"/sandbox/midtrans/v2/{order_id}/refund",
        json={"refund_key": "lost-answer"},
        auth=(bayar.settings.server_key(), ""),
    )
    assert refunded_at_gateway.status_code == 200
    now = bayar.clock()
    async with bayar.db.session() as session, session.begin():
        session.add(
            Refund(
                order_id=order_id,
                refund_key="lost-answer",
                amount=14000,
                reason="",
                status="unknown",
                created_at=now,
                updated_at=now,
            )
        )

    bayar.clock.advance(minutes=3)
    await bayar.reconcile()

    order = await bayar.order(order_id)
    assert order["status"] == "refunded"
    assert [(r["refund_key"], r["status"]) for r in order["refunds"]] == [
        ("lost-answer", "succeeded")
    ]
    assert (await bayar.db_order(order_id)).next_check_at is None
    assert await _attention(bayar) == []


async def test_a_refund_requested_but_never_sent_is_sent_by_the_worker(bayar: Bayar) -> None:
    """The process died between the refund row and the gateway call: the worker asks the
    gateway, which never heard of it, and makes it under the same key."""
    order_id = await bayar.create_order(("cola", 2))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    now = bayar.clock()
    async with bayar.db.session() as session, session.begin():
        session.add(
            Refund(
                order_id=order_id,
                refund_key="never-sent",
                amount=7000,
                reason="broken can",
                status="requested",
                created_at=now,
                updated_at=now,
            )
        )
    bayar.clock.advance(seconds=30)
    await bayar.reconcile()
    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "settlement"

    bayar.clock.advance(minutes=3)
    await bayar.reconcile()

    gateway = (await bayar.gateway_status(order_id)).json()
    assert gateway["transaction_status"] == "partial_refund"
    assert [(r["refund_key"], r["refund_amount"]) for r in gateway["refunds"]] == [
        ("never-sent", "7000.00")
    ]
    order = await bayar.order(order_id)
    assert order["status"] == "partially_refunded"
    assert [r["status"] for r in order["refunds"]] == ["succeeded"]
    bayar.clock.advance(minutes=3)
    await bayar.reconcile()
    assert len((await bayar.gateway_status(order_id)).json()["refunds"]) == 1


async def test_a_paid_order_flagged_by_an_unconfirmed_notification_is_checked_once(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    settlement = (await bayar.delivered(order_id, count=2))[-1]["body"]
    await bayar.fault("api_error", status=503, count=1)  # the confirming status call fails

    edited = await bayar.notify(settlement.replace('"settlement"', '"refund"'))

    assert edited.json()["status"] == "unconfirmed"
    bayar.clock.advance(minutes=1)
    await bayar.reconcile()
    assert (await bayar.order(order_id))["status"] == "paid"
    assert (await bayar.db_order(order_id)).next_check_at is None
    calls = len(await bayar.gateway_calls(order_id, "status"))
    bayar.clock.advance(hours=1)
    await bayar.reconcile()
    assert len(await bayar.gateway_calls(order_id, "status")) == calls


async def test_a_manual_refund_done_by_hand_leaves_the_queue(bayar: Bayar) -> None:
    order_id, _ = await _expired_snap_order(bayar)
    await bayar.pay(order_id, payment_type="echannel")
    await bayar.delivered(order_id, count=2)
    (late,) = await _attention(bayar)
    assert late.refund_key is not None

    done = await bayar.context.payments.refunds.refunded_by_hand(
        late.refund_key, "cash at the counter"
    )

    assert (done.status, done.detail) == ("succeeded", "refunded by hand: cash at the counter")
    (after,) = await _attention(bayar)  # a late payment stays visible, now settled
    assert (after.kind, after.refund_status) == ("late_payment", "succeeded")
    with pytest.raises(NotAllowed):
        await bayar.context.payments.refunds.refunded_by_hand(late.refund_key, "twice")


async def test_a_payment_for_a_cancelled_snap_order_is_refunded(bayar: Bayar) -> None:
    """Cancelled before the customer chose a method, the Snap page still took the money."""
    created = await bayar.create(("cola", 1), payment_type="snap")
    order_id = created.json()["order_id"]
    stock = await bayar.stock("cola")
    cancelled = await bayar.admin(order_id, "cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert await bayar.stock("cola") == stock + 1

    await bayar.pay(order_id, payment_type="qris")
    await bayar.delivered(order_id, count=4)

    order = await bayar.order(order_id)
    assert (order["status"], order["payment"]["status"]) == ("cancelled", "refund")
    assert [(r["amount"], r["status"]) for r in order["refunds"]] == [(7000, "succeeded")]
    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "refund"
    assert await bayar.stock("cola") == stock + 1
