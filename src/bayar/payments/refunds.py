"""Refunds: through the gateway under a key it refunds once, converging when an answer is lost;
the manual-refund queue a person works through (what the gateway will not or cannot give back);
and a late payment's refund, asked for by the core's one path."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bayar.gateways.base import (
    GatewayError,
    GatewayRejected,
    GatewayReport,
    GatewayUnavailable,
    Rejection,
)
from bayar.i18n import N_
from bayar.payments.errors import InvalidRequest, NotAllowed, OrderNotFound
from bayar.payments.refund_rows import follow_gateway
from bayar.payments.states import PAID_LIKE, UNSETTLED_REFUNDS, Event, RefundStatus, Status
from bayar.storage import repositories as repo
from bayar.storage.db import Tx
from bayar.storage.models import Order, Payment, Refund
from bayar.storage.snapshots import OrderSnapshot, PaymentSnapshot, RefundSnapshot

if TYPE_CHECKING:
    from bayar.payments.service import PaymentsService
    from bayar.payments.verdicts import Applied

log = logging.getLogger("bayar.payments.refunds")
# The refund of a payment that arrived for a closed order: one per order, under this key.
LATE_REFUND_PREFIX = repo.LATE_PAYMENT_PREFIX


def refundable(
    order: OrderSnapshot, payment: PaymentSnapshot | None, refunds: Sequence[RefundSnapshot]
) -> int:
    """What a refund may still give back (0: nothing, or the order is not paid)."""
    if Status(order.status) not in PAID_LIKE:
        return 0
    # A refund not settled yet (pending at the gateway, say) counts as given: it may still be.
    given = sum(r.amount for r in refunds if r.status != RefundStatus.FAILED)
    return max(0, order.gross_amount - max(given, payment.refunded_amount if payment else 0))


def _refundable(order: Order, payment: Payment | None, refunds: Sequence[Refund]) -> int:
    """`refundable` of the rows a transaction holds locked."""
    return refundable(
        OrderSnapshot.of(order),
        None if payment is None else PaymentSnapshot.of(payment),
        [RefundSnapshot.of(r) for r in refunds],
    )


# How a refund a person made outside the gateway describes itself (its `detail` starts so).
BY_HAND = "refunded by hand"


def new_refund_key(order_id: str) -> str:
    return f"{order_id}-{secrets.token_hex(4)}"


class Refunds:
    def __init__(self, core: PaymentsService) -> None:
        self.core = core
        self.db, self.gateway, self.now, self.policy = core.db, core.gateway, core.now, core.policy

    async def refund(
        self,
        order_id: str,
        *,
        amount: int | None,
        refund_key: str | None,
        reason: str,
        source: str = "admin",
    ) -> RefundSnapshot:
        """Refund a paid order, fully or in part. The same refund key never refunds twice: a
        caller that wants to retry after a gateway error (`GatewayUnavailable`: the outcome is
        unknown; `GatewayRejected`) names the key itself (`new_refund_key`)."""
        key = refund_key or new_refund_key(order_id)
        return RefundSnapshot.of(await self._refund(order_id, amount, key, reason, source))

    async def _refund(
        self, order_id: str, amount: int | None, key: str, reason: str, source: str
    ) -> Refund:
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None:
                raise OrderNotFound(N_("no order %(order)s"), order=order_id)
            existing = await repo.refund_by_key(session, key)
            if existing is not None:
                if existing.order_id != order_id:
                    raise InvalidRequest(N_("this refund key belongs to another order"))
                if existing.status not in UNSETTLED_REFUNDS:
                    return existing
                refund = existing
            else:
                if Status(order.status) not in PAID_LIKE:
                    raise NotAllowed(
                        N_("only a paid order can be refunded; this one is %(status)s"),
                        status=order.status,
                    )
                payment = await repo.payment_of(session, order_id)
                if payment is not None and not self.gateway_refunds(
                    payment.payment_type, payment.gateway
                ):
                    raise NotAllowed(
                        N_(
                            "the gateway cannot refund %(method)s payments: give the money back "
                            "by hand and record it as a manual refund"
                        ),
                        method=payment.payment_type,
                    )
                remaining = _refundable(order, payment, await repo.refunds_of(session, order_id))
                value = remaining if amount is None else amount
                if value < 1 or value > remaining:
                    raise InvalidRequest(
                        N_("the refund amount must be between 1 and %(most)s"), most=remaining
                    )
                refund = await repo.add_refund(
                    session,
                    order_id=order_id,
                    refund_key=key,
                    amount=value,
                    reason=reason,
                    status=RefundStatus.REQUESTED,
                    now=self.now(),
                )
        return await self._send_refund(order, refund, source=source)

    async def _send_refund(self, order: Order, refund: Refund, *, source: str) -> Refund:
        """Ask the gateway for a refund row's refund, under its key (the gateway refunds a key
        once), and record the answer: the row takes the state the gateway lists under its key
        (`follow_gateway`: succeeded, or pending while the gateway makes it), pending if the
        answer does not list it yet (the worker asks). No answer: `unknown`, and the worker asks
        the gateway about it later. A refusal: `failed`, or `manual` for a refund nobody asked
        bayar for (a late payment's), which a person must then make."""
        key, order_id = refund.refund_key, order.id
        full = refund.amount == order.gross_amount
        automatic = key.startswith(LATE_REFUND_PREFIX)
        try:
            try:
                status = await self.gateway.refund(
                    order_id,
                    amount=None if full else refund.amount,
                    refund_key=key,
                    reason=refund.reason or "",
                )
            except GatewayRejected as rejected:
                if rejected.reason is not Rejection.DUPLICATE:
                    if automatic:
                        await self._refused_to_a_person(refund, rejected.message)
                    else:
                        await self._refund_outcome(refund.id, RefundStatus.FAILED, rejected.message)
                    raise
                # This key was refunded already (an earlier answer was lost): read the truth.
                status = await self.gateway.status(order_id)
        except GatewayUnavailable:
            await self._refund_outcome(
                refund.id, RefundStatus.UNKNOWN, "the gateway did not answer"
            )
            raise
        await self.core.apply_status(status, source=source)
        return await self._follow(order_id, refund.id, status)

    async def _follow(self, order_id: str, refund_id: int, report: GatewayReport) -> Refund:
        """The refund rows as the gateway's report lists them (the one path did so already,
        unless the order ignored the report); this one pending if the report does not list it."""
        async with self.db.session() as session, session.begin():
            await repo.lock_order(session, order_id)
            await follow_gateway(self.core, session, order_id, report.refunds, self.now())
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            listed = any(r.refund_key == refund.refund_key for r in report.refunds)
            if not listed and refund.status in (RefundStatus.REQUESTED, RefundStatus.UNKNOWN):
                refund.status, refund.detail = RefundStatus.PENDING, None
                refund.updated_at = self.now()
        return refund

    async def refund_late_payment(self, order_id: str, refund_id: int) -> None:
        """Ask the gateway for the refund of a late payment (`Applied.late_refund`)."""
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
            refund = await session.get(Refund, refund_id)
        if order is None or refund is None or refund.status != RefundStatus.REQUESTED:
            return
        try:
            await self._send_refund(order, refund, source="refund")
        except GatewayError as error:  # unknown: the worker asks again; refused: a person must
            log.warning("late payment refund: %s", error, extra={"order_id": order_id})

    async def settle_refunds(self, order_id: str) -> Refund | None:
        """The worker's look at an order's unsettled refunds (requested, pending, unknown): those
        the gateway lists take the state it lists (`follow_gateway`; never sent again); the
        others are asked for again under their own key (which the gateway refunds once at most),
        and marked from that answer."""
        now = self.now()
        async with self.db.session() as session, session.begin():
            order = await session.get(Order, order_id)
            # Leased by compare-and-set: another worker (or the next pass) leaves them alone.
            waiting = await repo.lease_unsettled_refunds(
                session, order_id, now - self.policy.refund_grace, now
            )
        if order is None or not waiting:
            return None
        try:
            status = await self.gateway.status(order_id)
        except GatewayError as error:
            log.warning("refund check deferred: %s", error, extra={"order_id": order_id})
            return None
        await self.core.apply_status(status, source="reconcile")
        made = {r.refund_key for r in status.refunds}
        last = None
        for refund in waiting:
            if refund.refund_key in made:
                last = await self._follow(order_id, refund.id, status)
                continue
            try:
                last = await self._send_refund(order, refund, source="reconcile")
            except GatewayError as error:
                log.warning("refund retried: %s", error, extra={"order_id": order_id})
        return last

    # -- the manual-refund queue ("needs attention") ----------------------------------------------

    def gateway_refunds(self, payment_type: str, gateway: str | None = None) -> bool:
        """Can the gateway (None: the default) refund a payment of this type? (Midtrans and
        Xendit refund e-wallets and QRIS; bank transfers, bills and store payments only by
        hand.)"""
        return self.gateway.refunds(payment_type, gateway)

    async def queue_manual_refund(
        self,
        order_id: str,
        *,
        refund_key: str,
        reason: str,
        detail: str,
        amount: int | None = None,
    ) -> RefundSnapshot:
        """Money bayar owes back that the gateway refused to return (a kiosk unit that could not
        be dispensed, say) or cannot return (a bank transfer) goes to a person: the refund under
        `refund_key` becomes `manual`, or one is made for `amount` (default: what the order
        still has to give back). The one way into the queue the admin lists (with
        `queue_in`, its inside); a person then gives the money back and says so
        (`refunded_by_hand`). Queued twice, it is queued once."""
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None:
                raise OrderNotFound(N_("no order %(order)s"), order=order_id)
            existing = await repo.refund_by_key(session, refund_key)
            if existing is not None:
                if existing.order_id != order_id:
                    raise InvalidRequest(N_("this refund key belongs to another order"))
                if existing.status in UNSETTLED_REFUNDS:
                    # The gateway may still make it: a person giving the money too would pay twice.
                    raise NotAllowed(N_("this refund's outcome at the gateway is not known yet"))
                value = existing.amount
            else:
                remaining = _refundable(
                    order,
                    await repo.payment_of(session, order_id),
                    await repo.refunds_of(session, order_id),
                )
                if remaining < 1:
                    raise NotAllowed(N_("this order has nothing left to give back"))
                value = remaining if amount is None else amount
                if value < 1 or value > remaining:
                    raise InvalidRequest(
                        N_("the refund amount must be between 1 and %(most)s"), most=remaining
                    )
            queued = await self.queue_in(
                session, order_id, refund_key, value, reason, detail, self.now()
            )
        return RefundSnapshot.of(queued)

    async def queue_in(
        self,
        session: AsyncSession,
        order_id: str,
        refund_key: str,
        amount: int,
        reason: str,
        detail: str,
        now: datetime,
    ) -> Refund:
        """Inside the caller's transaction: the refund under `refund_key` as `manual` (made if
        missing; one done already stays done)."""
        refund = await repo.refund_by_key(session, refund_key)
        if refund is None:
            refund = await repo.add_refund(
                session,
                order_id=order_id,
                refund_key=refund_key,
                amount=amount,
                reason=reason,
                status=RefundStatus.MANUAL,
                now=now,
                detail=detail,
            )
        elif refund.status in (RefundStatus.MANUAL, RefundStatus.SUCCEEDED):
            return refund
        else:
            refund.status, refund.detail, refund.updated_at = RefundStatus.MANUAL, detail, now
        log.error(
            "refund of Rp %d queued for a person: %s",
            refund.amount,
            detail,
            extra={"order_id": order_id},
        )
        return refund

    async def _refused_to_a_person(self, refund: Refund, why: str) -> None:
        """A refund bayar made on its own (a late payment's) that the gateway refused."""
        async with self.db.session() as session, session.begin():
            await self.queue_in(
                session,
                refund.order_id,
                refund.refund_key,
                refund.amount,
                refund.reason or "",
                why,
                self.now(),
            )

    async def refunded_by_hand(self, refund_key: str, note: str) -> RefundSnapshot:
        """A person gave a `manual` refund's money back outside the gateway (cash, a bank
        transfer): the refund becomes succeeded and the order follows by the one path (a paid
        order becomes refunded, or partially refunded; a closed one records it in its history),
        in one transaction with the `on_refunded_by_hand` hooks (the kiosk unit's dispense is
        closed). Only once: a second call, or a second person racing the first, is refused."""
        gone = N_("this refund is not waiting for a person any more (was it done already?)")
        detail = f"{BY_HAND}: {note}" if note else BY_HAND
        applied: Applied | None = None
        async with self.db.session() as session, session.begin():
            found = await repo.refund_by_key(session, refund_key)
            if found is None:
                raise NotAllowed(gone)
            order = await repo.lock_order(session, found.order_id)
            assert order is not None
            await session.refresh(found)  # as the order lock's last holder left it
            if found.status != RefundStatus.MANUAL:
                raise NotAllowed(gone)
            now = self.now()
            found.status, found.detail, found.updated_at = RefundStatus.SUCCEEDED, detail, now
            await session.flush()
            before = Status(order.status)
            if before in PAID_LIKE:
                given = sum(
                    r.amount
                    for r in await repo.refunds_of(session, order.id)
                    if r.status == RefundStatus.SUCCEEDED
                )
                event = Event.REFUNDED if given >= order.gross_amount else Event.PARTIALLY_REFUNDED
                tx = await Tx.of(self.db, session)
                applied = await self.core._apply_in(tx, order.id, event, "admin", None, detail)
                session.expire(order)  # moved by a Core statement: not this object's status now
            else:  # a late payment's: the order stays closed, its history says where the money went
                conn = await session.connection()
                await self.core._ignored(
                    conn, order.id, before, Event.REFUNDED.value, "admin", detail, now
                )
            for hook in self.core.on_refunded_by_hand:
                await hook(session, found, now)
        if applied is not None and applied.changed:
            await self.core.announce(applied, "admin")
        log.info("manual refund done by hand", extra={"order_id": found.order_id})
        return RefundSnapshot.of(found)

    async def _refund_outcome(
        self, refund_id: int, status: RefundStatus, detail: str | None
    ) -> Refund:
        async with self.db.session() as session, session.begin():
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            await repo.lock_order(session, refund.order_id)
            await session.refresh(refund)  # as the order lock's last holder left it
            if refund.status not in UNSETTLED_REFUNDS:
                # A callback or the worker settled it while this call waited: that stands.
                return refund
            refund.status = status
            refund.detail = detail
            refund.updated_at = self.now()
            if status in (RefundStatus.UNKNOWN, RefundStatus.FAILED):
                # Lost, or refused: either way the gateway's money state may differ from ours
                # (a refusal often means it was refunded elsewhere): the worker asks.
                await repo.flag_for_check(
                    session, refund.order_id, self.now() + self.policy.refund_grace
                )
        return refund

    # -- reading -------------------------------------------------------------------------------
