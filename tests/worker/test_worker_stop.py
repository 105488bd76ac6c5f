"""Issue 12: a worker told to stop (SIGTERM to `bayar worker`) ends the pass under way within its
grace (BAYAR_SHUTDOWN_GRACE) instead of cutting a gateway call short."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bayar.worker.runner import Worker


async def test_stop_lets_the_pass_under_way_finish(bayar: Any) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("drop", count=1)  # the settlement webhook is lost: the worker must find it
    await bayar.pay(order_id)
    await bayar.delivered(order_id, count=2)
    bayar.clock.advance(seconds=31)
    await bayar.fault("api_hang", seconds=1, count=1)  # the worker's status call takes 1 s
    worker = Worker(bayar.context.payments, bayar.context.vending, interval=60)

    worker.start()
    deadline = time.monotonic() + 10
    while (await bayar.client.get("/sandbox/_control/faults")).json()["armed"]:
        assert time.monotonic() < deadline, "the worker never asked the gateway"
        await asyncio.sleep(0.02)  # its status call is under way, hanging
    await worker.stop(grace=10)

    assert (await bayar.order(order_id))["status"] == "paid"  # the pass was not cut short


async def test_stop_without_grace_ends_at_once(bayar: Any) -> None:
    worker = Worker(bayar.context.payments, bayar.context.vending, interval=60)
    worker.start()
    started = time.monotonic()
    await worker.stop()
    assert time.monotonic() - started < 5
