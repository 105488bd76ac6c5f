"""Each gateway call is timed once, by the adapter, and its observer (the payments audit) makes
of it one metric observation and one row of the order's gateway calls."""

from __future__ import annotations

from harness import Bayar


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
