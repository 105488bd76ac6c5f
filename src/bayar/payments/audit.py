"""The gateway adapter's observer: every call the adapter makes is timed once, by the adapter,
and handed here as a `GatewayCallRecord`: a metric, and a row of the order's gateway calls (the
admin's timeline). Recording never turns a payment call into a failure.

A caller that writes to the database right after the call (the inbox, the worker: the gateway's
answer, then the apply) holds the rows (`held_calls`) and `apply_status` writes them in its own
transaction: one commit fewer per confirmed notification or reconciled order. What it did not
write is written when the hold ends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from bayar.clock import Clock
from bayar.gateways.base import GatewayCallRecord
from bayar.metrics import Metrics
from bayar.storage.db import Database
from bayar.storage.gateway_calls import GatewayCallRow, add_gateway_call

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
        row = GatewayCallRow(
            order_id=call.order_id,
            operation=call.operation,
            outcome=call.outcome,
            detail=call.detail,
            duration_ms=int(call.seconds * 1000),
            at=self.now(),
        )
        held = _HELD.get()
        if held is not None:
            held.add(self, row)
        else:
            await self.write(row)

    async def write(self, row: GatewayCallRow) -> None:
        try:
            await add_gateway_call(self.db, row)
        except Exception:
            log.exception("could not record a gateway call", extra={"order_id": row.order_id})


class HeldCalls:
    """The rows of the calls made inside `held_calls()`, not written yet."""

    def __init__(self) -> None:
        self._held: list[tuple[GatewayAudit, GatewayCallRow]] = []

    def add(self, audit: GatewayAudit, row: GatewayCallRow) -> None:
        self._held.append((audit, row))

    def rows(self) -> tuple[GatewayCallRow, ...]:
        return tuple(row for _, row in self._held)

    def written(self, rows: tuple[GatewayCallRow, ...]) -> None:
        """`rows` are in a transaction that has committed."""
        done = {id(row) for row in rows}
        self._held = [(audit, row) for audit, row in self._held if id(row) not in done]

    async def write_rest(self) -> None:
        held, self._held = self._held, []
        for audit, row in held:
            await audit.write(row)


_HELD: ContextVar[HeldCalls | None] = ContextVar("bayar_held_gateway_calls", default=None)


@asynccontextmanager
async def held_calls() -> AsyncIterator[HeldCalls]:
    """The gateway calls made inside (in this task) are not written at once: the caller puts
    `rows()` in its transaction and, once it has committed, says so (`written`). The rest is
    written on the way out, whatever happened (an error, a transaction rolled back)."""
    held = HeldCalls()
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)
        await held.write_rest()
