"""Xendit does not retry a callback that timed out (only a manual resend does), unlike a 5xx."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.sandbox.conftest import MerchantNotifier


async def _deliver(
    merchant_notifier: MerchantNotifier, answer: httpx.Response | None
) -> tuple[str, list[str], int]:
    """One Xendit callback to a merchant that answers `answer` (None: times out)."""

    def merchant(request: httpx.Request) -> httpx.Response:
        if answer is None:
            raise httpx.ReadTimeout("no answer", request=request)
        return answer

    notifier = merchant_notifier(merchant, timeout=1.0)
    await notifier.start()
    try:
        [delivery] = notifier.enqueue_xendit("inv-1", "order-1", "PAID", "http://shop.test/cb", {})
        for _ in range(200):
            if delivery.attempts:
                break
            await asyncio.sleep(0.01)
    finally:
        await notifier.stop()
    return delivery.state, [a.outcome for a in delivery.attempts], delivery.retries


async def test_a_timed_out_callback_is_not_retried(merchant_notifier: MerchantNotifier) -> None:
    state, outcomes, retries = await _deliver(merchant_notifier, None)
    assert (state, outcomes, retries) == ("failed", ["timeout"], 0)


async def test_a_5xx_callback_is_retried_after_15_minutes(
    merchant_notifier: MerchantNotifier,
) -> None:
    state, outcomes, retries = await _deliver(merchant_notifier, httpx.Response(502))
    assert (state, outcomes, retries) == ("queued", ["502"], 1)
