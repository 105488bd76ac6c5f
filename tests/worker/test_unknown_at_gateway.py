"""Issue 12: "unknown at the gateway" is an alarm, never a state. A worker that asks another
gateway than the one that answered the order's create call (another sandbox: the worker of a
fleet pointed at the wrong one) hears "not found": it must neither expire nor fail the order, and
it says so (a log line, a metric, a note in the order's history)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bayar.app import build_context
from bayar.context import AppContext
from bayar.payments.reconcile import UNKNOWN_NOTE
from bayar.payments.states import Status
from bayar.sandbox.app import standalone_app
from bayar.worker.reconcile import reconcile_once

OTHER = "http://other-sandbox.test"


@contextlib.asynccontextmanager
async def worker_asking_another_sandbox(bayar: Any) -> AsyncIterator[AppContext]:
    """A second process (its own services) whose gateway is a sandbox that never saw the orders."""
    settings = bayar.settings.model_copy(
        update={
            "bayar_sandbox_state_file": ":memory:",
            "midtrans_core_base_url": f"{OTHER}/sandbox/midtrans",
        }
    )
    sandbox = standalone_app(settings)
    async with sandbox.router.lifespan_context(sandbox):
        context = build_context(
            settings, transport=httpx.ASGITransport(app=sandbox), now=bayar.clock
        )
        try:
            yield context
        finally:
            await context.payments.gateway.aclose()
            await context.presence.close()
            await context.bus.close()
            await context.db.close()


def _alarms(context: AppContext) -> float:
    value = context.metrics.registry.get_sample_value("bayar_gateway_unknown_total")
    return value or 0.0


async def test_the_wrong_gateway_never_expires_a_paid_order(
    bayar: Any, caplog: pytest.LogCaptureFixture
) -> None:
    before = await bayar.stock("cola")
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("drop", count=1)  # the settlement webhook is lost
    await bayar.pay(order_id)
    await bayar.delivered(order_id, count=2)
    bayar.clock.advance(minutes=30)  # far past the QRIS window and the expiry grace

    async with worker_asking_another_sandbox(bayar) as wrong:
        with caplog.at_level(logging.ERROR, logger="bayar.payments"):
            assert await reconcile_once(wrong.payments) == []
        alarms = _alarms(wrong)

    order = await bayar.order(order_id)
    assert order["status"] == "pending"  # not expired: its stock is still held
    assert await bayar.stock("cola") == before - 1
    assert alarms == 1
    assert any("wrong gateway" in r.getMessage() for r in caplog.records)
    note = order["history"][-1]
    assert (note["note"], note["ignored"]) == (UNKNOWN_NOTE, True)

    # The fleet's own gateway (the one that answered the create) settles it.
    bayar.clock.advance(minutes=30)
    applied = await bayar.reconcile()
    assert [(a.order_id, a.after) for a in applied] == [(order_id, Status.PAID)]
    assert await bayar.stock("cola") == before - 1


async def test_the_wrong_gateway_never_moves_an_open_order_and_alarms_once_in_history(
    bayar: Any,
) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    bayar.clock.advance(seconds=31)  # past the first check, and the pending webhook's confirmation

    async with worker_asking_another_sandbox(bayar) as wrong:
        assert await reconcile_once(wrong.payments) == []
        bayar.clock.advance(minutes=1)
        assert await reconcile_once(wrong.payments) == []
        alarms = _alarms(wrong)

    assert alarms == 2  # the metric counts every time it is told "not found"
    order = await bayar.order(order_id)
    assert order["status"] == "pending"
    notes = [h for h in order["history"] if h.get("note") == UNKNOWN_NOTE]
    assert len(notes) == 1  # the history says it once, not on every pass
