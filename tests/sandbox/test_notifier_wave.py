"""A wave of notifications leaves the sandbox a bounded number at a time, and all arrive."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from bayar.sandbox.notify import MAX_IN_FLIGHT

if TYPE_CHECKING:
    from tests.sandbox.conftest import MerchantNotifier

WAVE = MAX_IN_FLIGHT * 3


async def test_a_wave_goes_out_a_bounded_number_at_a_time(
    merchant_notifier: MerchantNotifier,
) -> None:
    on_the_wire = most = answered = 0
    full, release, done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def merchant(request: httpx.Request) -> httpx.Response:
        nonlocal on_the_wire, most, answered
        on_the_wire += 1
        most = max(most, on_the_wire)
        if on_the_wire >= MAX_IN_FLIGHT:
            full.set()
        await release.wait()
        on_the_wire -= 1
        answered += 1
        if answered == WAVE:
            done.set()
        return httpx.Response(200, json={})

    notifier = merchant_notifier(merchant)
    await notifier.start()
    try:
        url = "http://shop.test/cb"
        deliveries = [
            d
            for i in range(WAVE)
            for d in notifier.enqueue_xendit(f"inv-{i}", f"order-{i}", "PAID", url, {})
        ]
        async with asyncio.timeout(10):  # liveness bounds, not waits
            await full.wait()
        for _ in range(50):  # the loop has every chance to start more: it must not
            await asyncio.sleep(0)
        assert most == MAX_IN_FLIGHT
        release.set()
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        await notifier.stop()  # lets the last deliveries record their answers
    assert most == MAX_IN_FLIGHT
    assert [d.state for d in deliveries] == ["delivered"] * WAVE
