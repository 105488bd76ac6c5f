"""Xendit does not retry a callback that timed out (only a manual resend does), unlike a 5xx."""

from __future__ import annotations

import asyncio

import httpx

from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.faults import Faults
from bayar.sandbox.notify import Notifier
from bayar.sandbox.store import SandboxStore


async def _deliver(answer: httpx.Response | None) -> tuple[str, list[str], int]:
    """One Xendit callback to a merchant that answers `answer` (None: times out)."""

    def merchant(request: httpx.Request) -> httpx.Response:
        if answer is None:
            raise httpx.ReadTimeout("no answer", request=request)
        return answer

    store = SandboxStore(":memory:")
    notifier = Notifier(
        store,
        SandboxClock(),
        Faults(),
        default_url=lambda: None,
        timeout=1.0,
        jitter=False,
        transport=httpx.MockTransport(merchant),
        xendit_token=lambda: "tok",
    )
    await notifier.start()
    try:
        [delivery] = notifier.enqueue_xendit("inv-1", "order-1", "PAID", "http://shop.test/cb", {})
        for _ in range(200):
            if delivery.attempts:
                break
            await asyncio.sleep(0.01)
    finally:
        await notifier.stop()
        store.close()
    return delivery.state, [a.outcome for a in delivery.attempts], delivery.retries


async def test_a_timed_out_callback_is_not_retried() -> None:
    state, outcomes, retries = await _deliver(None)
    assert (state, outcomes, retries) == ("failed", ["timeout"], 0)


async def test_a_5xx_callback_is_retried_after_15_minutes() -> None:
    state, outcomes, retries = await _deliver(httpx.Response(502))
    assert (state, outcomes, retries) == ("queued", ["502"], 1)
