"""Reconciliation and expiry (`bayar.worker.reconcile.reconcile_once`): the fallback when a webhook
is lost or the gateway did not answer, on bayar's controllable clock."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from harness import Bayar, StartBayar

from bayar.app import build_context
from bayar.payments.service import PaymentsService
from bayar.payments.states import Status
from bayar.payments.verdicts import Applied
from bayar.worker.reconcile import reconcile_once


async def _paid_but_unheard(bayar: Bayar, *items: tuple[str, int]) -> str:
    """An order the sandbox settled whose settlement webhook was dropped."""
    order_id: str = await bayar.create_order(*(items or (("cola", 2),)))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("drop", count=1)
    await bayar.pay(order_id)
    log = await bayar.delivered(order_id, count=2)
    assert [(d["transaction_status"], d["state"]) for d in log] == [
        ("pending", "delivered"),
        ("settlement", "dropped"),
    ]
    assert (await bayar.order(order_id))["status"] == "pending"
    return order_id


async def test_a_dropped_webhook_is_made_right_by_reconciliation(bayar: Bayar) -> None:
    before = await bayar.stock("cola")
    order_id = await _paid_but_unheard(bayar, ("cola", 2))

    assert await bayar.reconcile() == []  # not due yet: the first check is 10 s after creation
    assert await bayar.gateway_calls(order_id, "status") == []

    bayar.clock.advance(seconds=11)
    applied = await bayar.reconcile()

    assert [(a.order_id, a.before, a.after, a.changed) for a in applied] == [
        (order_id, Status.PENDING, Status.PAID, True)
    ]
    order = await bayar.order(order_id)
    assert order["status"] == "paid"
    assert order["payment"]["status"] == "settlement"
    assert [(h["from_status"], h["to_status"], h["source"]) for h in order["history"]] == [
        (None, "pending", "api"),
        ("pending", "paid", "reconcile"),
    ]
    assert await bayar.stock("cola") == before - 2
    bayar.clock.advance(minutes=30)
    assert await bayar.reconcile() == []  # paid: nothing more to ask
    assert len(await bayar.gateway_calls(order_id, "status")) == 1


async def test_an_unpaid_order_is_only_asked_about_and_rescheduled(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    # (A worker skips an order whose row a webhook holds locked: let the pending one pass first.)
    await bayar.delivered(order_id, count=1)
    bayar.clock.advance(seconds=11)

    applied = await bayar.reconcile()

    assert [(a.order_id, a.changed) for a in applied] == [(order_id, False)]
    order = await bayar.db_order(order_id)
    assert order.status == "pending"
    assert order.check_attempts == 1
    assert order.next_check_at is not None
    assert order.next_check_at > bayar.clock()
    assert await bayar.reconcile() == []  # not due again yet
    assert await bayar.transitions(order_id) == [(None, "pending")]


async def test_expiry_expires_at_the_gateway_and_releases_stock(bayar: Bayar) -> None:
    before = await bayar.stock("cola")
    order_id = await bayar.create_order(("cola", 2))
    await bayar.delivered(order_id, count=1)
    assert await bayar.stock("cola") == before - 2

    bayar.clock.advance(minutes=16)  # QRIS is valid for 15 minutes
    applied = await bayar.reconcile()

    assert [(a.order_id, a.after) for a in applied] == [(order_id, Status.EXPIRED)]
    order = await bayar.order(order_id)
    assert order["status"] == "expired"
    # Applied by the expiry, or by the gateway's expire notification if it came first.
    assert [(h["from_status"], h["to_status"]) for h in order["history"]] == [
        (None, "pending"),
        ("pending", "expired"),
    ]
    assert order["history"][1]["source"] in ("expiry", "webhook")
    assert await bayar.stock("cola") == before
    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "expire"
    # The gateway's expire notification follows; the stock is not given back twice.
    log = await bayar.delivered(order_id, count=2)
    assert log[-1]["transaction_status"] == "expire"
    assert log[-1]["attempts"][-1]["outcome"] == "200"
    assert await bayar.stock("cola") == before
    assert (await bayar.order(order_id))["status"] == "expired"
    # A customer paying now is refused by the gateway: the QR is dead.
    late = await bayar.client.post(f"/sandbox/_control/midtrans/{order_id}/pay")
    assert late.status_code == 409


async def test_a_payment_just_before_expiry_wins_over_expiry(bayar: Bayar) -> None:
    before = await bayar.stock("cola")
    order_id = await _paid_but_unheard(bayar, ("cola", 1))

    bayar.clock.advance(minutes=16)
    applied = await bayar.reconcile()

    assert [(a.order_id, a.after) for a in applied] == [(order_id, Status.PAID)]
    assert (await bayar.order(order_id))["status"] == "paid"
    assert await bayar.stock("cola") == before - 1
    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "settlement"


async def test_a_gateway_error_during_reconciliation_defers_never_fails(bayar: Bayar) -> None:
    order_id = await _paid_but_unheard(bayar, ("cola", 1))
    bayar.clock.advance(seconds=11)
    await bayar.fault("api_error", status=503, count=1)

    assert await bayar.reconcile() == []

    order = await bayar.db_order(order_id)
    assert order.status == "pending"
    assert order.next_check_at is not None
    assert order.next_check_at > bayar.clock()
    assert [c.outcome for c in await bayar.gateway_calls(order_id, "status")] == ["unavailable"]

    bayar.clock.advance(seconds=20)
    applied = await bayar.reconcile()

    assert [(a.order_id, a.after) for a in applied] == [(order_id, Status.PAID)]


async def test_an_order_the_gateway_will_not_expire_is_asked_with_backoff(bayar: Bayar) -> None:
    answer = await bayar.create(("cola", 1), payment_type="snap")
    order_id = answer.json()["order_id"]
    await bayar.pay_by_card(answer.json()["payment"]["token"], "4511111111111117")  # challenged
    await bayar.wait_status(order_id, "review")
    await bayar.delivered(order_id, count=1)
    bayar.clock.advance(hours=2)  # past the Snap order's hour

    first = await bayar.reconcile()

    assert [(a.order_id, a.after) for a in first] == [(order_id, Status.REVIEW)]
    calls = len(await bayar.gateway_calls(order_id))
    order = await bayar.db_order(order_id)
    assert order.next_check_at is not None
    assert order.next_check_at > bayar.clock()
    assert await bayar.reconcile() == []  # the clock has not moved: nothing is due
    assert len(await bayar.gateway_calls(order_id)) == calls


async def test_an_order_the_gateway_never_saw_expires_locally_after_a_grace_period(
    bayar: Bayar,
) -> None:
    """Issue 8, problem 5: a gateway that does not know the order may still take its payment
    until its own expiry (a Snap page): the order closes here only a grace period later."""
    before = await bayar.stock("cola")
    await bayar.fault("api_error", status=503, count=1)
    created = await bayar.create(("cola", 2))
    assert created.status_code == 202, created.text
    order_id = created.json()["order_id"]

    bayar.clock.advance(seconds=11)
    assert await bayar.reconcile() == []  # the gateway has no such transaction: wait for expiry
    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.stock("cola") == before - 2

    bayar.clock.advance(minutes=15)  # past the QRIS window, within the grace
    assert await bayar.reconcile() == []
    assert (await bayar.order(order_id))["status"] == "pending"

    bayar.clock.advance(minutes=2)
    applied = await bayar.reconcile()

    assert [(a.order_id, a.after) for a in applied] == [(order_id, Status.EXPIRED)]
    assert await bayar.stock("cola") == before
    history = (await bayar.order(order_id))["history"]
    assert history[-1]["note"] == "never paid at the gateway"


async def test_a_gateway_hang_during_create_leaves_the_order_pending(
    start_bayar: StartBayar,
) -> None:
    async with start_bayar(midtrans_timeout_seconds=0.25) as bayar:
        before = await bayar.stock("cola")
        await bayar.fault("api_hang", seconds=2.0, count=1)

        started = time.monotonic()
        created = await bayar.create(("cola", 1), key="hung")
        elapsed = time.monotonic() - started

        assert created.status_code == 202, created.text
        assert created.json()["payment"] is None
        assert elapsed < 2.0  # the adapter's deadline (connect + read: 0.5 s) cut it short
        order_id = created.json()["order_id"]
        assert (await bayar.order(order_id))["status"] == "pending"
        assert await bayar.stock("cola") == before - 1
        calls = await bayar.gateway_calls(order_id, "charge")
        assert [c.outcome for c in calls] == ["unavailable"]
        assert "timed out" in (calls[0].detail or "")


async def test_a_retry_after_a_hung_create_gets_the_qr_the_gateway_made(
    start_bayar: StartBayar,
) -> None:
    """The charge happened (its pending notification even arrived) but its answer was lost: the
    same Idempotency-Key again returns the same order with the gateway's QR, not a second charge."""
    async with start_bayar(midtrans_timeout_seconds=0.25) as bayar:
        await bayar.fault("api_hang", seconds=1.0, count=1)
        created = await bayar.create(("cola", 1), key="retry-me")
        assert created.status_code == 202, created.text
        order_id = created.json()["order_id"]
        await bayar.delivered(order_id, count=1)  # the gateway's "pending" notification

        again = await bayar.create(("cola", 1), key="retry-me")

        assert again.status_code == 200, again.text
        assert again.json()["order_id"] == order_id
        gateway = (await bayar.client.get(f"/sandbox/_control/midtrans/{order_id}")).json()
        assert again.json()["payment"]["qr_string"]
        assert again.json()["payment"]["transaction_id"] == gateway["transaction"]["transaction_id"]
        calls = await bayar.gateway_calls(order_id, "charge")
        assert [c.outcome for c in calls] == ["unavailable", "ok"]


async def test_a_gateway_hang_during_create_is_settled_by_reconciliation(
    start_bayar: StartBayar,
) -> None:
    async with start_bayar(midtrans_timeout_seconds=0.25) as bayar:
        await bayar.fault("api_hang", seconds=0.8, count=1)
        created = await bayar.create(("cola", 1))
        assert created.status_code == 202, created.text
        order_id = created.json()["order_id"]

        # The charge "still takes effect after the hang" (the sandbox's promise).
        deadline = time.monotonic() + 1.0
        while (await bayar.client.get(f"/sandbox/_control/midtrans/{order_id}")).status_code != 200:
            assert time.monotonic() < deadline, "the hung charge never reached the sandbox"
            await asyncio.sleep(0.05)
        await bayar.pay(order_id)
        bayar.clock.advance(seconds=11)
        applied = await bayar.reconcile()

        assert [(a.order_id, a.after) for a in applied] == [(order_id, Status.PAID)]


# -- several workers --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_workers_reconcile_each_due_order_once(bayar: Bayar) -> None:
    count = 20
    order_ids = await asyncio.gather(
        *(bayar.create_order(("air-mineral", 1)) for _ in range(count))
    )
    await bayar.fault("drop", count=count)  # every settlement webhook is lost
    await asyncio.gather(*(bayar.pay(order_id) for order_id in order_ids))
    bayar.clock.advance(seconds=11)
    # A second process: its own PaymentsService, database pool and gateway client.
    other = build_context(
        bayar.settings,
        base_url="http://bayar.test",
        transport=httpx.ASGITransport(app=bayar.app),
        now=bayar.clock,
    )

    async def drain(service: PaymentsService) -> list[Applied]:
        done: list[Applied] = []
        while batch := await reconcile_once(service, limit=5, concurrency=3):
            done.extend(batch)
        return done

    try:
        first, second = await asyncio.gather(drain(bayar.context.payments), drain(other.payments))
    finally:
        await other.payments.gateway.aclose()
        await other.presence.close()
        await other.bus.close()
        await other.db.close()

    assert sorted(a.order_id for a in first + second) == sorted(order_ids)  # each exactly once
    assert all(a.after == Status.PAID and a.changed for a in first + second)
    for order_id in order_ids:
        assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]
        assert len(await bayar.gateway_calls(order_id, "status")) == 1
        assert (await bayar.db_order(order_id)).check_attempts == 1
