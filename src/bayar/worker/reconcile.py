"""One pass: claim the orders whose check is due and look at each through the core's one path
(`PaymentsService.check`: expire at the gateway when its time is up, else read its status), then
settle the refunds whose outcome is not known (`PaymentsService.settle_refunds`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bayar.payments.service import PaymentsService
from bayar.payments.verdicts import Applied
from bayar.storage import worker_queue

log = logging.getLogger("bayar.worker")
LEASE = timedelta(seconds=60)  # another worker skips a claimed order this long


async def reconcile_once(
    service: PaymentsService, *, limit: int = 50, concurrency: int = 8
) -> list[Applied]:
    due = await worker_queue.claim_due_orders(service.db, service.now(), LEASE, limit)
    gate = asyncio.Semaphore(concurrency)

    async def one(order_id: str) -> Applied | None:
        async with gate:
            try:
                return await service.reconcile.check(order_id)
            except Exception:
                log.exception("check failed", extra={"order_id": order_id})
                return None

    results = await asyncio.gather(*(one(order_id) for order_id in due))
    await settle_refunds_once(service, limit=limit)
    return [r for r in results if r is not None]


async def settle_refunds_once(service: PaymentsService, *, limit: int = 50) -> int:
    """Refunds still `requested` or `unknown` after the service's grace: asked about, and asked
    for again if the gateway never made them. How many orders were looked at."""
    stale = service.now() - service.policy.refund_grace
    order_ids = await worker_queue.orders_with_unsettled_refunds(service.db, stale, limit)
    for order_id in order_ids:
        try:
            await service.refunds.settle_refunds(order_id)
        except Exception:
            log.exception("refund check failed", extra={"order_id": order_id})
    return len(order_ids)
