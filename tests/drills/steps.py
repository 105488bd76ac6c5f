"""What the in-process drills do between their faults: one home for each step.

`worker_pass` is one pass of `bayar worker` (src/bayar/worker/runner.py, `Worker.run`'s body) on
the in-process app; if the worker loop gains a job, it belongs here too.
"""

from __future__ import annotations

import json
from typing import Any

from harness import Bayar


async def worker_pass(bayar: Bayar, **advance: float) -> None:
    """One pass of the worker, after the fake clock moved on by `advance` (timedelta's words)."""
    if advance:
        bayar.clock.advance(**advance)
    await bayar.reconcile()
    await bayar.context.vending.sweep()


async def genuine_body(bayar: Bayar, order_id: str, transaction_status: str) -> dict[str, Any]:
    """The order's signed notification with this status, exactly as the sandbox sent it."""
    found = [
        d for d in await bayar.deliveries(order_id) if d["transaction_status"] == transaction_status
    ]
    assert found, f"no {transaction_status} notification of {order_id}"
    body: dict[str, Any] = json.loads(found[-1]["body"])
    return body
