"""The notifier's queue is what is still to send: not every delivery the sandbox ever made."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from bayar.sandbox.model import Delivery
from bayar.sandbox.store import SandboxStore

if TYPE_CHECKING:
    from tests.sandbox.conftest import MerchantNotifier

URL = "http://shop.test/cb"


def _delivery(id_: str, state: str) -> Delivery:
    return Delivery(
        id=id_,
        transaction_id=f"t-{id_}",
        order_id=f"o-{id_}",
        url=URL,
        body="{}",
        created_at=0.0,
        transaction_status="settlement",
        state=state,
    )


async def test_only_queued_deliveries_are_pending_and_sent_ones_leave(
    merchant_notifier: MerchantNotifier,
) -> None:
    answered = asyncio.Event()

    async def merchant(request: httpx.Request) -> httpx.Response:
        answered.set()
        return httpx.Response(200, json={})

    store = SandboxStore(":memory:")
    store.save_delivery(_delivery("old-sent", "delivered"))
    store.save_delivery(_delivery("old-queued", "queued"))
    notifier = merchant_notifier(merchant, store=store)
    assert [d.id for d in notifier.pending()] == ["old-queued"]

    queued = notifier.enqueue_xendit("inv-1", "order-1", "PAID", URL, {})
    assert {d.id for d in notifier.pending()} == {"old-queued", queued[0].id}

    store.reset()  # the sandbox reset: nothing is left to send
    assert notifier.pending() == []

    fresh = notifier.enqueue_xendit("inv-2", "order-2", "PAID", URL, {})
    await notifier.start()
    try:
        async with asyncio.timeout(10):  # a liveness bound, not a wait
            await answered.wait()
    finally:
        await notifier.stop()  # lets the delivery record its answer
        store.close()
    assert fresh[0].state == "delivered"
    assert notifier.pending() == []
