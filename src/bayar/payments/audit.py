"""The gateway adapter's observer: every call the adapter makes is timed once, by the adapter,
and handed here as a `GatewayCallRecord`: a metric, and a row of the order's gateway calls (the
admin's timeline). Recording never turns a payment call into a failure."""

from __future__ import annotations

import logging

from bayar.clock import Clock
from bayar.gateways.base import GatewayCallRecord
from bayar.metrics import Metrics
from bayar.storage.db import Database
from bayar.storage.gateway_calls import add_gateway_call

log = logging.getLogger("bayar.payments.audit")


class GatewayAudit:
    def __init__(self, db: Database, metrics: Metrics, now: Clock) -> None:
        self.db = db
        self.metrics = metrics
        self.now = now

    async def __call__(self, call: GatewayCallRecord) -> None:
        self.metrics.observe_gateway(call.operation, call.seconds, call.outcome)
        if call.order_id is None:
            return
        try:
            await add_gateway_call(
                self.db,
                order_id=call.order_id,
                operation=call.operation,
                outcome=call.outcome,
                detail=call.detail,
                duration_ms=int(call.seconds * 1000),
                at=self.now(),
            )
        except Exception:
            log.exception("could not record a gateway call", extra={"order_id": call.order_id})
