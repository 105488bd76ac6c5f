"""Reconciliation: the worker's look at orders the gateway has not told us about (ask its status
API, expire at the gateway when the time is up), and cancellation by a person or a kiosk. Every
change goes through the core's one path (`PaymentsService.apply_status`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bayar.gateways.base import (
    GatewayError,
    GatewayRejected,
    Rejection,
    TransactionNotFound,
)
from bayar.i18n import N_
from bayar.payments.audit import HeldCalls, held_calls
from bayar.payments.errors import NotAllowed
from bayar.payments.states import OPEN, Event, Status
from bayar.storage import repositories as repo
from bayar.storage.models import Order

if TYPE_CHECKING:
    from bayar.payments.service import PaymentsService
    from bayar.payments.verdicts import Applied

log = logging.getLogger("bayar.payments.reconcile")

# The history note of an order the gateway denies knowing after it answered for it (an alarm).
UNKNOWN_NOTE = (
    "the gateway says it has no such transaction, yet it answered for it before: is this"
    " process asking the wrong gateway? the order is left as it is"
)


class Reconciler:
    def __init__(self, core: PaymentsService) -> None:
        self.core = core
        self.db, self.gateway, self.now = core.db, core.gateway, core.now
        self.policy, self.metrics = core.policy, core.metrics

    async def check(self, order_id: str) -> Applied | None:
        """The worker's look at an order it claimed. An open one: expire it when its time is up,
        else ask the gateway. A closed one (flagged: a notification not confirmed yet, a refund
        whose answer was lost): ask the gateway and apply its answer. Never gives up on an order
        the gateway cannot be asked about: it is asked again later. The audit rows of the
        gateway's answers go in the apply that follows them (`held_calls`)."""
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
        if order is None:
            return None
        async with held_calls() as calls:
            if order.status not in OPEN:
                return await self._check_closed(order, calls)
            try:
                if self.now() >= order.expires_at:
                    return await self._expire(order, calls)
                status = await self.gateway.status(order_id)
            except TransactionNotFound:
                # Not created at the gateway (yet): expiry settles it; unless the gateway already
                # knew it, which is an alarm (the wrong gateway is asked), never a state.
                await self._unknown_at_gateway(order, "reconcile")
                return None
            except GatewayError as error:
                log.warning("reconcile deferred: %s", error, extra={"order_id": order_id})
                return None
            finally:
                await self._schedule_next_check(order_id)
            return await self.core.apply_status(status, source="reconcile", calls=calls)

    async def _check_closed(self, order: Order, calls: HeldCalls) -> Applied | None:
        try:
            status = await self.gateway.status(order.id)
        except TransactionNotFound:
            if not await self._unknown_at_gateway(order, "reconcile"):
                await self.core.done_checking(order.id)
                return None
            await self._check_later(order.id)
            return None
        except GatewayError as error:
            log.warning("reconcile deferred: %s", error, extra={"order_id": order.id})
            await self._check_later(order.id)
            return None
        # Asked and answered: the order's check is cleared in the apply's own transaction.
        return await self.core.apply_status(
            status,
            source="reconcile",
            finish=lambda _applied, writes: writes.done_checking(),
            calls=calls,
        )

    async def _check_later(self, order_id: str) -> None:
        """A closed order the gateway could not tell about: asked again after a backoff."""
        async with self.db.session() as session, session.begin():
            found = await repo.lock_order(session, order_id)
            if found is not None:
                delay = self.policy.next_delay(max(found.check_attempts - 1, 0))
                found.next_check_at = self.now() + delay

    async def _unknown_at_gateway(self, order: Order, source: str) -> bool:
        """The gateway says it has no transaction for an order. True (an alarm: a log line, the
        `bayar_gateway_unknown_total` metric, a note in the order's history) when the gateway
        had already shown it knows the transaction: a charge it answered, or a report of it;
        then this process asks the wrong gateway (another sandbox, another account), and the
        order must not move on that answer. False when it never did (a create that never got
        through, a Snap page whose customer chose no method yet): nothing to alarm about."""
        async with self.db.session() as session:
            payment = await repo.payment_of(session, order.id)
        if payment is None or payment.transaction_id is None:
            return False
        self.metrics.gateway_unknown.inc()
        log.error(
            "the gateway does not know a transaction it answered for: is this process asking"
            " the wrong gateway (MIDTRANS_CORE_BASE_URL, the server key)? the order is left as"
            " it is",
            extra={"order_id": order.id, "transaction_id": payment.transaction_id},
        )
        async with self.db.session() as session, session.begin():
            found = await repo.lock_order(session, order.id)
            if found is not None and await repo.last_note(session, order.id) != UNKNOWN_NOTE:
                status = Status(found.status)
                conn = await session.connection()
                await self.core._ignored(
                    conn, order.id, status, "gateway_unknown", source, UNKNOWN_NOTE, self.now()
                )
        return True

    async def _closed_without_gateway(self, order_id: str, event: Event, **kw: Any) -> Applied:
        """Close an order the gateway has no transaction for (a Snap page whose customer chose no
        method yet), or one it cannot cancel (a Xendit QR): it may still take a payment until its
        own expiry, so the worker asks the gateway once more after it; a payment found then is
        refunded as any late one. Only an order still open: one the gateway's payment reached
        meanwhile (its callback, the worker) stays as that payment left it."""
        applied = await self.core.apply_event(order_id, event, only_from=OPEN, **kw)
        assert applied is not None
        async with self.db.session() as session, session.begin():
            order = await session.get(Order, order_id)
            if order is not None and order.status not in OPEN:
                later = max(self.now(), order.expires_at) + self.policy.expiry_grace
                await repo.flag_for_check(session, order_id, later)
        return applied

    async def _expire(self, order: Order, calls: HeldCalls) -> Applied | None:
        """The order's time is up: expire it at the gateway first, so no payment can arrive
        after it closes here. A gateway that does not know the order (a Snap page whose customer
        chose no method) may still take its payment until its own expiry: the order is expired
        here only a grace period after its deadline. An order whose transaction the gateway has
        shown it knows is never expired on a "not found": that is an alarm."""
        try:
            status = await self.gateway.expire(order.id)
        except TransactionNotFound:
            if await self._unknown_at_gateway(order, "expiry"):
                return None  # an alarm, never a state: the order waits for a gateway that knows
            if self.now() < order.expires_at + self.policy.expiry_grace:
                return None
            return await self._closed_without_gateway(
                order.id, Event.PAYMENT_EXPIRED, source="expiry", note="never paid at the gateway"
            )
        except GatewayRejected:
            # Not expirable any more: the gateway has moved on (often: it was just paid).
            status = await self.gateway.status(order.id)
        return await self.core.apply_status(status, source="expiry", calls=calls)

    async def _schedule_next_check(self, order_id: str) -> None:
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None or order.status not in OPEN:
                return
            now = self.now()
            due = now + self.policy.next_delay(max(order.check_attempts - 1, 0))
            # Ask again at the expiry at the latest; past it (the gateway would not expire the
            # order, e.g. a card in review) keep backing off instead of asking on every pass.
            order.next_check_at = min(due, order.expires_at) if order.expires_at > now else due

    # -- admin operations --------------------------------------------------------------------

    async def cancel(self, order_id: str, *, source: str = "admin") -> Applied:
        order = await self.core.reads.order(order_id)
        if order.status not in OPEN:
            raise NotAllowed(
                N_("only a pending order can be cancelled; this one is %(status)s"),
                status=order.status,
            )
        applied: Applied | None
        try:
            status = await self.gateway.cancel(order_id)
        except TransactionNotFound:
            applied = await self._closed_without_gateway(
                order_id, Event.PAYMENT_CANCELLED, source=source, note="no gateway transaction yet"
            )
        except GatewayRejected as rejected:
            applied = await self.core.apply_status(
                await self.gateway.status(order_id), source=source
            )
            if (
                rejected.reason is Rejection.CANNOT_CANCEL
                and applied is not None
                and applied.after in OPEN
            ):
                # Nothing at the gateway can stop it (a QRIS payment request): the order is
                # closed here and its stock released, the worker asks once more after the
                # gateway's own expiry, and a payment that still comes is refunded as late.
                applied = await self._closed_without_gateway(
                    order_id,
                    Event.PAYMENT_CANCELLED,
                    source=source,
                    note="the gateway cannot cancel it: a payment until its expiry is refunded",
                )
        else:
            applied = await self.core.apply_status(status, source=source)
        assert applied is not None
        if applied.after != Status.CANCELLED:
            raise NotAllowed(
                N_("the gateway says the order is %(status)s; it was not cancelled"),
                status=applied.after.value,
            )
        return applied
