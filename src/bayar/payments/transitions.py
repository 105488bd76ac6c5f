"""How a report moves an order: the one path (`screen`, `apply_status`, `apply_event`)
that webhooks, reconciliation, expiry, the admin and the kiosk all take, and the bus message
after commit.

`Transitions` is mixed into `PaymentsService`; it uses the service's database, gateway, bus,
clock and refund queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bayar.bus.base import Bus
from bayar.gateways.base import GatewayReport
from bayar.metrics import Metrics
from bayar.payments import verdicts
from bayar.payments.audit import HeldCalls
from bayar.payments.gateways import GatewayRouter
from bayar.payments.states import RELEASED, Event, RefundStatus, Status
from bayar.payments.verdicts import (
    MONEY_EVENTS,
    RETRY_NOTE,
    UNANSWERED,
    Applied,
    Screening,
    event_of,
    payment_changes,
    without_instructions,
)
from bayar.storage import repositories as repo
from bayar.storage.db import Database, Tx
from bayar.storage.models import Refund
from bayar.storage.order_facts import AsRead, OrderFacts, PaymentFacts
from bayar.storage.order_writes import OrderWrites

if TYPE_CHECKING:
    from bayar.payments.policy import ReconcilePolicy

log = logging.getLogger("bayar.payments")
# Called inside the transaction that makes an order paid, before it commits (the vending domain
# creates the kiosk unit's dispense row here, so a paid unit always has one). The order is as the
# apply read it: its `status` is the one it had before it became paid. A hook that has
# nothing to write asks `Tx.session` for nothing: the apply then opens no ORM session.
PaidHook = Callable[[Tx, OrderFacts, datetime], Awaitable[None]]
# Runs inside the transaction that applies a report, after the order moved (or did not): adds
# its own writes to the apply's (the inbox row's outcome), sent with them. It runs again if the
# apply does (`Database.quick`), with new writes: the last run's are the ones committed.
Finish = Callable[[Applied | None, OrderWrites], None]


class Transitions:
    """The transition half of `PaymentsService` (see the module's docstring)."""

    db: Database
    gateway: GatewayRouter  # each order's calls go to the gateway it was created at
    bus: Bus
    metrics: Metrics
    confirm_paid: bool
    policy: ReconcilePolicy
    now: Callable[[], datetime]
    on_paid: list[PaidHook]

    if TYPE_CHECKING:  # the refund queue's, in PaymentsService

        async def refund_late_payment(self, order_id: str, refund_id: int) -> None: ...

        def gateway_refunds(self, payment_type: str, gateway: str | None = None) -> bool: ...

        async def _follow_refunds(
            self, session: AsyncSession, order_id: str, refunds: Any, now: datetime
        ) -> None: ...

        async def _queue_manual(
            self,
            session: AsyncSession,
            order_id: str,
            refund_key: str,
            amount: int,
            reason: str,
            detail: str,
            now: datetime,
        ) -> Refund: ...

    async def apply_status(
        self,
        status: GatewayReport,
        *,
        source: str,
        finish: Finish | None = None,
        calls: HeldCalls | None = None,
        as_read: AsRead | None = None,
    ) -> Applied | None:
        """Apply what the gateway says about an order. None if the order is unknown here.
        `finish` runs in the same transaction, after the order moved (the inbox records the
        notification's outcome there). `calls`: the held audit rows of the gateway calls that
        brought `status`, written in the same transaction. `as_read`: the order and its payment
        as read just before, decided on unless they have changed since."""
        return await self._apply(
            status.order_id,
            event_of(status),
            source=source,
            status=status,
            finish=finish,
            calls=calls,
            as_read=as_read,
        )

    def screen(
        self, order: OrderFacts | None, payment: PaymentFacts | None, status: GatewayReport
    ) -> Screening:
        """A signed notification, judged against its order and payment as read (no lock, no
        write). A signature covers only some fields, so the body is a hint: what repeats what
        the order and its payment already say is settled here, and changes nothing; anything
        else goes on to `apply_status`, by the gateway's status API's answer
        (`Screening.confirm`) when it could change the order or its payment, else by the body (a
        refused amount, a late event: only written into the order's history)."""
        if order is None:
            return Screening(known=False)
        status = without_instructions(status)
        event = event_of(status)
        if event is None and status.refunds:  # a refund's news: the status API tells all
            return Screening(known=True, confirm=self.confirm_paid)
        before = Status(order.status)
        verdict = verdicts.judge(order, before, event, status, self.now())
        outcome = verdict.outcome
        if outcome is None:
            return Screening(known=True)
        if (
            outcome.repeat
            and not status.refunds
            and (
                payment is None
                # While the create call is unanswered its answer (or a retry's) brings the
                # transaction: a pending report before it changes nothing.
                or payment.status in UNANSWERED
                or not payment_changes(payment, status)
            )
        ):
            same = Applied(order.id, before, before, changed=False, ignored=False)
            return Screening(known=True, applied=same)
        without_effect = outcome.ignored and not (
            before in RELEASED and outcome.event in MONEY_EVENTS
        )
        return Screening(known=True, confirm=self.confirm_paid and not without_effect)

    async def apply_event(
        self,
        order_id: str,
        event: Event,
        *,
        source: str,
        note: str | None = None,
        only_from: frozenset[Status] | None = None,
    ) -> Applied | None:
        """Apply an event of our own (local expiry, a cancelled Snap order, a dispensed drink);
        `only_from`: unless the order, under its lock, has left these statuses meanwhile."""
        return await self._apply(order_id, event, source=source, note=note, only_from=only_from)

    async def _apply(
        self,
        order_id: str,
        event: Event | None,
        *,
        source: str,
        status: GatewayReport | None = None,
        note: str | None = None,
        finish: Finish | None = None,
        only_from: frozenset[Status] | None = None,
        calls: HeldCalls | None = None,
        as_read: AsRead | None = None,
    ) -> Applied | None:
        audited = calls.rows() if calls is not None else ()

        def finish_all(applied: Applied | None, writes: OrderWrites) -> None:
            writes.gateway_calls(audited)
            if finish is not None:
                finish(applied, writes)

        async def apply(tx: Tx) -> Applied | None:
            return await self._apply_in(
                tx, order_id, event, source, status, note, only_from, finish_all
            )

        applied = await self.db.quick(apply, as_read)
        if calls is not None:
            calls.written(audited)
        if applied is not None and applied.changed:
            await self.announce(applied, source)
        if applied is not None and applied.late_refund is not None:
            await self.refund_late_payment(order_id, applied.late_refund)
        return applied

    @staticmethod
    async def _ignored(
        conn: AsyncConnection,
        order_id: str,
        status: Status,
        event: str,
        source: str,
        note: str | None,
        now: datetime,
    ) -> None:
        """History keeps what was not acted on, and why: written now, outside an apply."""
        writes = OrderWrites(order_id)
        writes.ignored(status.value, event, source, note, now)
        await writes.flush(conn)

    async def _apply_in(
        self,
        tx: Tx,
        order_id: str,
        event: Event | None,
        source: str,
        status: GatewayReport | None,
        note: str | None,
        only_from: frozenset[Status] | None = None,
        finish: Finish | None = None,
    ) -> Applied | None:
        """`_apply` inside the caller's transaction: the order's, its payment's and its
        history's writes (and `finish`'s) are gathered, then sent together."""
        writes = OrderWrites(order_id)
        applied = await self._decide(tx, writes, order_id, event, source, status, note, only_from)
        if finish is not None:
            finish(applied, writes)
        await writes.flush(tx.conn)
        return applied

    async def _decide(
        self,
        tx: Tx,
        writes: OrderWrites,
        order_id: str,
        event: Event | None,
        source: str,
        status: GatewayReport | None,
        note: str | None,
        only_from: frozenset[Status] | None,
    ) -> Applied | None:
        """What the report or event does to the order as read (under its lock, or guarded: the
        writes go only if it is unchanged, `Database.quick`), its writes into `writes`."""
        locked = await repo.lock_order_with_payment(tx.conn, order_id)
        if locked is None:
            return None
        order, payment = locked
        before = Status(order.status)
        if only_from is not None and before not in only_from:
            return Applied(order_id, before, before, changed=False, ignored=False)
        now = self.now()
        verdict = verdicts.judge(order, before, event, status, now)
        if verdict.retry:
            note = RETRY_NOTE
            if await repo.last_note(tx.session, order_id) != note:  # each reconcile pass asks again
                denied = Event.PAYMENT_DENIED.value
                writes.ignored(before.value, denied, source, note, now)
            return Applied(order_id, before, before, changed=False, ignored=True, note=note)
        outcome = verdict.outcome
        if outcome is None:
            problem = verdict.problem
            name = status.gateway_status if status else "unknown"
            writes.ignored(before.value, name, source, problem, now)
            log.warning("gateway status not applied: %s", problem, extra={"order_id": order_id})
            return Applied(
                order_id,
                before,
                before,
                changed=False,
                ignored=True,
                note=problem,
                mismatch=verdict.mismatch,
            )
        event = outcome.event
        # Money on a closed order: final states stay final, but the payment row follows the
        # gateway (paid, then refunded) so the books show where the money is.
        late_money = outcome.ignored and before in RELEASED and event in MONEY_EVENTS
        if status is not None and (not outcome.ignored or late_money):
            self._record_payment(writes, payment, status, now)
        if status is not None and status.refunds:  # they follow the gateway whatever the order does
            await self._follow_refunds(tx.session, order_id, status.refunds, now)
        late_refund = None
        if late_money and event == Event.PAYMENT_SUCCEEDED and status is not None:
            refund = await self._late_refund(tx.session, order, payment, before, status, now)
            note = f"paid after the order was {before.value}: refund {refund.status}"
            late_refund = refund.id if refund.status == RefundStatus.REQUESTED else None
        if outcome.ignored:
            note_kept = note or f"late {event.value} ignored in {before.value}"
            writes.ignored(before.value, event.value, source, note_kept, now)
            return Applied(
                order_id,
                before,
                before,
                changed=False,
                ignored=True,
                note=note,
                late_refund=late_refund,
            )
        if not outcome.changed:
            return Applied(order_id, before, before, changed=False, ignored=False)
        after = outcome.after
        if after in RELEASED and before not in RELEASED:
            items = await repo.items_of(tx.session, order_id)
            await repo.give_back_stock(tx.session, order.machine_id, items)
        writes.move(after.value, now, checked=after not in (Status.PENDING, Status.REVIEW))
        if after == Status.PAID:
            for hook in self.on_paid:
                await hook(tx, order, now)
        writes.event(
            before=before.value,
            after=after.value,
            event=event.value,
            source=source,
            note=note,
            at=now,
        )
        return Applied(
            order_id,
            before,
            after,
            changed=True,
            ignored=False,
            note=note,
            machine_id=order.machine_id,
        )

    async def _late_refund(
        self,
        session: AsyncSession,
        order: OrderFacts,
        payment: PaymentFacts | None,
        before: Status,
        status: GatewayReport,
        now: datetime,
    ) -> Refund:
        """The refund of money that arrived for a closed order, made once per order: asked of
        the gateway after commit where its method can be refunded there, else queued for a
        person (`manual`). Either way it is on the admin's "needs attention" list."""
        key = f"{repo.LATE_PAYMENT_PREFIX}{order.id}"
        existing = await repo.refund_by_key(session, key)
        if existing is not None:
            return existing
        payment_type = status.payment_type
        reason = f"paid after the order was {before.value}"
        log.error("payment after the order was %s", before.value, extra={"order_id": order.id})
        if not self.gateway_refunds(payment_type, payment.gateway if payment else None):
            return await self._queue_manual(
                session,
                order.id,
                key,
                status.gross_amount,
                reason,
                f"{payment_type} cannot be refunded through the gateway: refund it by hand",
                now,
            )
        return await repo.add_refund(
            session,
            order_id=order.id,
            refund_key=key,
            amount=status.gross_amount,
            reason=reason,
            status=RefundStatus.REQUESTED,
            now=now,
        )

    @staticmethod
    def _record_payment(
        writes: OrderWrites, payment: PaymentFacts | None, status: GatewayReport, now: datetime
    ) -> None:
        changes = payment_changes(payment, status) if payment is not None else None
        if changes:  # a repeated report (most webhooks) writes nothing
            writes.payment(changes, now)

    async def announce(self, applied: Applied, source: str) -> None:
        """A committed move: counted, logged and published (the apply may have run twice to make
        it, `Database.quick`)."""
        after = applied.after.value
        self.metrics.transitions.labels(after, source).inc()
        log.info(
            "order %s -> %s (%s)",
            applied.before.value,
            after,
            source,
            extra={"order_id": applied.order_id},
        )
        message = {
            "type": "order",
            "order_id": applied.order_id,
            "status": after,
            "previous": applied.before.value,
            "machine_id": applied.machine_id,
        }
        try:
            await self.bus.publish(f"order:{applied.order_id}", message)
            if applied.machine_id:
                await self.bus.publish(f"machine:{applied.machine_id}", message)
            await self.bus.publish("orders", message)
        except Exception:
            # The bus is a doorbell: the change is committed; readers resync from the database.
            log.exception("publish failed", extra={"order_id": applied.order_id})
