"""Each gateway call is timed once, by the adapter, and its observer (the payments audit) makes
of it one metric observation and one row of the order's gateway calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from harness import Bayar
from sqlalchemy import select

from bayar.gateways.base import GatewayCallRecord
from bayar.metrics import Metrics
from bayar.payments.audit import GatewayAudit, held_calls
from bayar.storage.db import Database
from bayar.storage.models import GatewayCall
from bayar.storage.order_writes import OrderWrites


def _observed(bayar: Bayar, operation: str, outcome: str) -> float:
    metrics = bayar.context.metrics
    value = metrics.registry.get_sample_value(
        "bayar_gateway_call_seconds_count", {"operation": operation, "outcome": outcome}
    )
    return value or 0.0


async def test_one_call_is_one_metric_and_one_row(bayar: Bayar) -> None:
    charges = _observed(bayar, "charge", "ok")
    order_id = await bayar.create_order(("cola", 1))

    assert _observed(bayar, "charge", "ok") == charges + 1
    [row] = await bayar.gateway_calls(order_id)
    assert (row.operation, row.outcome, row.detail) == ("charge", "ok", None)
    assert row.duration_ms >= 0


async def test_a_refused_call_is_recorded_with_its_reason(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id)
    await bayar.fault("drop", count=1)  # paid at the gateway; bayar does not hear of it
    await bayar.pay(order_id)
    before = _observed(bayar, "cancel", "rejected")

    answer = await bayar.admin(order_id, "cancel")

    # The gateway will not cancel a settled payment; its status API says paid, and so is the order.
    assert answer.status_code == 409, answer.text
    assert (await bayar.order(order_id))["status"] == "paid"
    assert _observed(bayar, "cancel", "rejected") == before + 1
    [cancel] = await bayar.gateway_calls(order_id, "cancel")
    assert cancel.outcome == "rejected"
    assert (cancel.detail or "").startswith("412")


async def test_a_confirming_call_is_recorded_whether_it_answers_or_not(bayar: Bayar) -> None:
    """The inbox writes the status call's row with the notification's outcome: when the call
    fails (no apply follows) and when it confirms (the apply's transaction)."""
    order_id = await bayar.create_order(("cola", 1))
    pending = json.loads((await bayar.delivered(order_id, count=1))[0]["body"])
    await bayar.fault("drop", count=1)  # paid at the gateway; bayar does not hear of it
    await bayar.pay(order_id)
    await bayar.delivered(order_id, count=2)
    claim = {**pending, "status_code": "200", "transaction_status": "settlement"}
    await bayar.fault("api_error", status=503, count=1)

    failed = await bayar.notify(bayar.sign({**claim, "custom_field1": "first"}))
    confirmed = await bayar.notify(bayar.sign({**claim, "custom_field1": "again"}))

    assert (failed.json()["status"], confirmed.json()["status"]) == ("unconfirmed", "applied")
    calls = await bayar.gateway_calls(order_id, "status")
    assert [(c.outcome, c.detail is None) for c in calls] == [("unavailable", False), ("ok", True)]
    assert (await bayar.order(order_id))["status"] == "paid"


async def test_held_calls_are_written_once_whatever_the_holder_does(database: Database) -> None:
    audit = GatewayAudit(database, Metrics(), lambda: datetime(2026, 12, 7, tzinfo=UTC))

    async def rows() -> list[tuple[str, str]]:
        async with database.session() as session:
            found = await session.execute(
                select(GatewayCall.order_id, GatewayCall.operation).order_by(GatewayCall.id)
            )
            return [(order_id, operation) for order_id, operation in found.all()]

    async def fails_before_writing() -> None:
        async with held_calls():
            await audit(GatewayCallRecord("status", "o-failed", 0.01, "ok"))
            assert await rows() == []  # held
            raise RuntimeError

    # Held, then written on the way out: the holder failed before writing them.
    with pytest.raises(RuntimeError):
        await fails_before_writing()
    # Written by the holder's transaction, then not again; a call without an order is no row.
    async with held_calls() as held:
        await audit(GatewayCallRecord("status", "o-applied", 0.02, "ok"))
        await audit(GatewayCallRecord("charge", None, 0.02, "unavailable"))
        taken = held.rows()
        assert [row.order_id for row in taken] == ["o-applied"]
        writes = OrderWrites("o-applied")
        writes.gateway_calls(taken)
        async with database.transaction() as tx:
            await writes.flush(tx.conn)
        held.written(taken)
        await audit(GatewayCallRecord("refund", "o-applied", 0.03, "rejected", "412: no"))
    # Outside any hold: at once.
    await audit(GatewayCallRecord("cancel", "o-alone", 0.01, "ok"))

    assert await rows() == [
        ("o-failed", "status"),
        ("o-applied", "status"),
        ("o-applied", "refund"),
        ("o-alone", "cancel"),
    ]


async def test_the_worker_s_status_calls_are_recorded_whether_they_answer_or_not(
    bayar: Bayar,
) -> None:
    """The worker's call goes with the apply it brings (`apply_status(calls=…)`), or on its own
    when the call fails and nothing is applied."""
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("drop", count=1)  # paid at the gateway; bayar does not hear of it
    await bayar.pay(order_id)
    await bayar.fault("api_error", status=503, count=1)

    bayar.clock.advance(minutes=1)
    await bayar.reconcile()
    assert (await bayar.order(order_id))["status"] == "pending"
    bayar.clock.advance(minutes=10)
    await bayar.reconcile()

    assert (await bayar.order(order_id))["status"] == "paid"
    calls = await bayar.gateway_calls(order_id, "status")
    assert [c.outcome for c in calls] == ["unavailable", "ok"]
