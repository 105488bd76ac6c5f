"""The payments core: `PaymentsService`, the one path to a status change (`transitions.py`)
whatever reports it (webhook, reconciliation, expiry, admin or kiosk), and the use cases built on
it, each in its module (`checkout`, `reconcile`, `refunds`, `reads`).

Each operation is one unit of work committed in one place. Gateway calls happen outside database
transactions; bus messages go out only after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bayar.bus.base import Bus
from bayar.clock import Clock, system_clock
from bayar.gateways.base import Gateway, GatewayRefund, GatewayReport
from bayar.metrics import Metrics
from bayar.payments.gateways import GatewayRouter
from bayar.payments.policy import OrderLimits, ReconcilePolicy
from bayar.payments.refund_rows import follow_gateway
from bayar.payments.transitions import PaidHook, Transitions
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import Refund
from bayar.storage.order_writes import OrderWrites

log = logging.getLogger("bayar.payments")
# Called inside the transaction that marks a manual refund done by hand, or that queues for a
# person an automatic refund the gateway failed, before it commits (the vending domain moves the
# kiosk unit's dispense here).
RefundHook = Callable[[AsyncSession, Refund, datetime], Awaitable[None]]


class PaymentsService(Transitions):
    """The payments core: the one path to a status change (`Transitions`), and the use cases
    built on it, each in its module: `checkout`, `reconcile`, `refunds`, `reads`."""

    def __init__(
        self,
        db: Database,
        gateway: Gateway | GatewayRouter,
        bus: Bus,
        *,
        metrics: Metrics | None = None,
        confirm_paid: bool = True,
        policy: ReconcilePolicy | None = None,
        limits: OrderLimits | None = None,
        now: Clock = system_clock,
        create_wait: float = 5.0,
    ) -> None:
        self.db = db
        # Each order's calls go to the gateway it was created at.
        self.gateway = (
            gateway
            if isinstance(gateway, GatewayRouter)
            else GatewayRouter({gateway.name: gateway}, gateway.name, db)
        )
        self.bus = bus
        self.metrics = metrics or Metrics()
        # True (BAYAR_CONFIRM_PAID, the default): every notification that would change an order
        # is confirmed with the gateway's status API and applied from its answer. False trusts a
        # signed body's status (never its payment instructions): only for a process whose status
        # API cannot see the transactions, as in the multi-process test.
        self.confirm_paid = confirm_paid
        self.policy = policy or ReconcilePolicy()
        self.limits = limits or OrderLimits()
        self.now = now
        self.on_paid: list[PaidHook] = []
        self.on_refunded_by_hand: list[RefundHook] = []
        # Key prefixes of the refunds bayar asks for on its own (a late payment's; the vending
        # domain adds its kiosk units'): one the gateway fails goes to the manual-refund queue,
        # and then these hooks run.
        self.automatic_refunds: list[str] = [repo.LATE_PAYMENT_PREFIX]
        self.on_automatic_refund_failed: list[RefundHook] = []
        # The use cases, each in its module, built on this core (imported here: they import it).
        from bayar.payments.checkout import Checkouts
        from bayar.payments.reads import OrderReads
        from bayar.payments.reconcile import Reconciler
        from bayar.payments.refunds import Refunds

        self.checkout = Checkouts(self, create_wait=create_wait)
        self.reconcile = Reconciler(self)
        self.refunds = Refunds(self)
        self.reads = OrderReads(db)

    # -- asking the gateway -----------------------------------------------------------------------

    async def gateway_status(self, order_id: str, gateway: str | None = None) -> GatewayReport:
        """`gateway`: the order's, when the caller has read it already (None: read here)."""
        if gateway is None:
            return await self.gateway.status(order_id)
        return await self.gateway.adapter(gateway, order_id).status(order_id)

    async def done_checking(self, order_id: str) -> None:
        """A closed order the gateway was just asked about needs no further check."""
        writes = OrderWrites(order_id)
        writes.done_checking()
        async with self.db.transaction() as tx:
            await writes.flush(tx.conn)

    # -- what the one path asks of the refunds (their own module) ---------------------------------

    def gateway_refunds(self, payment_type: str, gateway: str | None = None) -> bool:
        return self.refunds.gateway_refunds(payment_type, gateway)

    async def refund_late_payment(self, order_id: str, refund_id: int) -> None:
        await self.refunds.refund_late_payment(order_id, refund_id)

    async def _follow_refunds(
        self,
        session: AsyncSession,
        order_id: str,
        refunds: Sequence[GatewayRefund],
        now: datetime,
    ) -> None:
        await follow_gateway(self, session, order_id, refunds, now)

    async def _queue_manual(
        self,
        session: AsyncSession,
        order_id: str,
        refund_key: str,
        amount: int,
        reason: str,
        detail: str,
        now: datetime,
    ) -> Refund:
        return await self.refunds.queue_in(
            session, order_id, refund_key, amount, reason, detail, now
        )
