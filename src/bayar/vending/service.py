"""Kiosk orders and their dispensing.

A paid kiosk order gets exactly one dispense row, made in the transaction that makes the order
paid (a hook of `PaymentsService.on_paid`), so no paid unit can be forgotten. Its status only
moves by compare-and-set (`UPDATE … WHERE status = …`): pending → commanded → dispensed, or →
failed → refunded (or refund_retry / manual_refund). So duplicates, reconciliation, reconnects
and several server processes can race without a payment being dispensed or refunded twice.

A commanded dispense belongs to the kiosk socket that was sent the command (`connection_id`):
only that socket's answer counts. The sweep fails and refunds a dispense the machine did not
acknowledge in time: `dispense_timeout` after the command, `offline_refund` after the payment
while the machine never took it (it is away).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bayar.bus.base import Bus
from bayar.clock import Clock, system_clock
from bayar.gateways.base import Customer, GatewayRejected, GatewayUnavailable
from bayar.i18n import N_
from bayar.payments.checkout import CartLine, Checkout
from bayar.payments.errors import (
    InvalidRequest,
    NotAllowed,
    PaymentError,
)
from bayar.payments.service import PaymentsService
from bayar.payments.states import Event, RefundStatus, Status
from bayar.payments.verdicts import Applied
from bayar.storage import dispenses, kiosk_reads
from bayar.storage import machines as registry
from bayar.storage.db import Database, Tx
from bayar.storage.models import Refund
from bayar.storage.order_facts import OrderFacts
from bayar.vending.machines import authenticate, plausible_id

log = logging.getLogger("bayar.vending")
KIOSK_CUSTOMER = Customer(first_name="Kiosk", last_name="Customer")
RECENT = timedelta(hours=1)


MACHINE_ACTIVE = "machine_active"  # a bus message: a machine was put in or out of service


@dataclass(frozen=True)
class DispenseCommand:
    order_id: str
    dispense_id: str
    slot: str
    product_id: str
    name: str


# A refund's status (storage.models.Refund) → what becomes of the failed dispense. A refused one
# (failed, manual) is queued for a person by the payments service first (`_to_a_person`). One the
# gateway accepted and is still making (pending) counts as given back, as a requested one does:
# if the gateway fails it later, the payments service queues it for a person and the dispense
# becomes `manual_refund` then (`_on_refund_failed`).
REFUND_OUTCOMES = {
    RefundStatus.SUCCEEDED: "refunded",
    RefundStatus.REQUESTED: "refunded",
    RefundStatus.PENDING: "refunded",
    RefundStatus.FAILED: "manual_refund",
    RefundStatus.MANUAL: "manual_refund",
}


# The bus message that asks a machine's sockets to claim their pending dispenses.
DISPENSE_DUE = "dispense_due"


def dispense_id(order_id: str) -> str:
    return f"dsp-{order_id}"


# The key of the refund of a kiosk unit that was paid and not dispensed starts so.
REFUND_PREFIX = "dispense-"


def refund_key(order_id: str) -> str:
    """The key of the refund of a kiosk unit that was paid and not dispensed."""
    return f"{REFUND_PREFIX}{order_id}"


class KioskUnauthorized(PaymentError):
    """A kiosk order without the machine's credential."""

    http_status = 401


class UnknownMachine(InvalidRequest):
    """A machine_id that names no active machine."""


class VendingService:
    def __init__(
        self,
        db: Database,
        payments: PaymentsService,
        bus: Bus,
        *,
        dispense_timeout: timedelta,
        offline_refund: timedelta = timedelta(seconds=900),
        now: Clock = system_clock,
    ) -> None:
        self.db = db
        self.payments = payments
        self.bus = bus
        self.now = now
        self.dispense_timeout = dispense_timeout
        self.offline_refund = offline_refund
        payments.on_paid.append(self._on_paid)
        payments.on_refunded_by_hand.append(self._on_refunded_by_hand)
        payments.automatic_refunds.append(REFUND_PREFIX)
        payments.on_automatic_refund_failed.append(self._on_refund_failed)

    async def machine(self, machine_id: str) -> dict[str, Any] | None:
        if not plausible_id(machine_id):
            return None
        machine = await registry.machine(self.db, machine_id)
        if machine is None or not machine.active:
            return None
        return {"id": machine.id, "name": machine.name, "location": machine.location}

    async def authorize(self, machine_id: str, token: str | None) -> None:
        """A kiosk order from outside the kiosk socket (the HTTP API) must carry the machine's
        token (compared in constant time). An unknown machine is a bad request (422), a known
        one without its token is refused (401)."""
        if await authenticate(self.db, machine_id, token) is not None:
            return
        if await self.machine(machine_id) is None:
            raise UnknownMachine("unknown machine")
        raise KioskUnauthorized("a kiosk order needs the machine's X-Kiosk-Token")

    async def machine_standing(self, machine_id: str) -> str:
        """ "unknown", "disabled" (Machine.active false: taken out of service in the admin) or
        "active": the reason a kiosk is told when its socket is refused."""
        if not plausible_id(machine_id):
            return "unknown"
        machine = await registry.machine(self.db, machine_id)
        if machine is None:
            return "unknown"
        return "active" if machine.active else "disabled"

    async def set_active(self, machine_id: str, active: bool) -> bool:
        """Put a machine in or out of service. Its connected kiosks hear it at once (a
        `machine_active` message on its channel: a disabled one's sockets are closed with 4403);
        False when there is no such machine."""
        if not await registry.set_active(self.db, machine_id, active):
            return False
        await self.bus.publish(f"machine:{machine_id}", {"type": MACHINE_ACTIVE, "active": active})
        return True

    # -- menu and orders -------------------------------------------------------------------------

    async def menu(self, machine_id: str) -> list[dict[str, Any]]:
        return [
            {
                "id": line.product_id,
                "slot": line.slot,
                "name": line.name,
                "price": line.price,
                "image_url": line.image_url,
                "stock": line.stock,
                "available": line.stock > 0,
            }
            for line in await kiosk_reads.menu(self.db, machine_id)
        ]

    async def order(
        self, machine_id: str, product_id: str, request_id: str | None
    ) -> dict[str, Any]:
        """A QRIS order for one item of the machine's slots (a retried request_id: the same order)."""
        order, _ = await self.payments.checkout.create_transaction(
            Checkout(
                items=(CartLine(product_id, 1),),
                payment_type="qris",
                customer=KIOSK_CUSTOMER,
                machine_id=machine_id,
                idempotency_key=f"kiosk:{machine_id}:{request_id}" if request_id else None,
            )
        )
        view = await self.order_view(order.id)
        assert view is not None
        return view

    async def order_view(self, order_id: str) -> dict[str, Any] | None:
        found = await kiosk_reads.kiosk_order(self.db, order_id)
        if found is None:
            return None
        order, item = found.order, found.item
        return {
            "order_id": order.id,
            "machine_id": order.machine_id,
            "status": order.status,
            "item": {
                "id": item.product_id if item else None,
                "name": item.name if item else None,
                "price": item.price if item else None,
                "image_url": found.image_url,
                "slot": item.slot_code if item else None,
            },
            "gross_amount": order.gross_amount,
            "qr_string": found.qr_string,
            "expiry_time": order.expires_at,
            "dispense": None
            if found.dispense_status is None
            else {"dispense_id": dispense_id(order_id), "status": found.dispense_status},
        }

    async def cancel(self, machine_id: str, order_id: str) -> Applied:
        order = await self.payments.reads.order(order_id)
        if order.machine_id != machine_id:
            raise NotAllowed(N_("this order belongs to another machine"))
        return await self.payments.reconcile.cancel(order_id, source="kiosk")

    async def current_order(self, machine_id: str, now: datetime) -> dict[str, Any] | None:
        """The order the machine's screen is about: the newest one that still needs the screen."""
        found = await kiosk_reads.newest_order(self.db, machine_id, now - RECENT)
        if found is None:
            return None
        order, dispense = found
        if Status(order.status).is_open:
            return await self.order_view(order.id)
        if order.status == Status.PAID and dispense != "manual_refund":
            return await self.order_view(order.id)
        return None

    # -- dispensing ------------------------------------------------------------------------------

    async def _on_paid(self, tx: Tx, order: OrderFacts, now: datetime) -> None:
        """Inside the transaction that makes an order paid: a kiosk order's dispense row, pending
        until a socket of its machine takes the command (or the sweep refunds it)."""
        if order.machine_id is None:
            return
        session = tx.session
        if await dispenses.exists(session, order.id):
            return
        item = await dispenses.first_item(session, order.id)
        if item is None or item.slot_code is None:
            log.error("paid kiosk order without a slot", extra={"order_id": order.id})
            return
        dispenses.add_pending(session, order.id, order.machine_id, item.slot_code, now)

    async def dispenses_due(self, machine_id: str, *, resend: bool) -> list[str]:
        """The machine's paid orders whose dispense no socket took yet (and, when `resend`, the
        ones commanded and not answered), oldest payment first."""
        wanted = ("pending", "commanded") if resend else ("pending",)
        return await dispenses.due(self.db, machine_id, wanted)

    async def claim_dispense(
        self, machine_id: str, order_id: str, connection_id: str, *, resend: bool = False
    ) -> DispenseCommand | None:
        """The DISPENSE command for a paid order, once: to the first caller, and again only when
        `resend` (a reconnecting machine, which answers a repeated dispense_id without
        dispensing). The socket it goes to (`connection_id`) owns the dispense from then on."""
        wanted = ("pending", "commanded") if resend else ("pending",)
        item = await dispenses.claim(
            self.db, machine_id, order_id, connection_id, wanted, self.now()
        )
        if item is None or item.slot_code is None:
            return None
        return DispenseCommand(
            order_id, dispense_id(order_id), item.slot_code, item.product_id, item.name
        )

    async def dispense_result(
        self, machine_id: str, order_id: str, ok: bool, detail: str | None, connection_id: str
    ) -> str:
        """The machine's answer. Only the first answer to a commanded dispense counts, and only
        from the socket that was sent the command (a stale socket of the same machine may still
        be open: its word is not the machine's)."""
        status = "dispensed" if ok else "failed"
        moved = await dispenses.move_now(
            self.db,
            order_id,
            ("commanded",),
            status,
            detail,
            self.now(),
            machine_id=machine_id,
            connection_id=connection_id,
        )
        if not moved:
            if await dispenses.status_of(self.db, order_id) == "commanded":
                log.warning(
                    "dispense result from a socket that does not own the dispense ignored",
                    extra={"order_id": order_id, "machine_id": machine_id},
                )
            else:
                log.info("late or repeated dispense result ignored", extra={"order_id": order_id})
            return "ignored"
        if ok:
            await self.payments.apply_event(order_id, Event.FULFILLED, source="kiosk")
            await self._announce(machine_id, order_id, "dispensed")
            return "dispensed"
        return await self._refund(machine_id, order_id, detail or "the machine could not dispense")

    async def _refund(self, machine_id: str, order_id: str, reason: str) -> str:
        """A failed dispense gives the money back in full; if the gateway refuses, a person must.
        An order refunded meanwhile by another path (an admin, while its machine was away) needs
        nothing more."""
        order = await self.payments.reads.order(order_id)
        if order.status == Status.REFUNDED:
            outcome = "refunded"
        else:
            outcome = await self._give_back(order_id, reason)
        if outcome == "manual_refund":
            log.error("dispense refund needs a person", extra={"order_id": order_id})
        moved = await dispenses.move_now(
            self.db, order_id, ("failed", "refund_retry"), outcome, reason, self.now()
        )
        if moved and outcome != "refund_retry":  # announced once, by whoever moved it
            await self._announce(machine_id, order_id, outcome, amount=order.gross_amount)
        return outcome

    async def _give_back(self, order_id: str, reason: str) -> str:
        """Refund the order in full at the gateway: what becomes of its failed dispense."""
        key = refund_key(order_id)
        try:
            refund = await self.payments.refunds.refund(
                order_id,
                amount=None,
                refund_key=key,
                reason=f"dispense failed: {reason}"[:255],
                source="kiosk",
            )
        except GatewayUnavailable:
            return "refund_retry"
        except (GatewayRejected, NotAllowed, InvalidRequest) as error:
            log.warning("automatic refund refused: %s", error, extra={"order_id": order_id})
            return await self._to_a_person(order_id, reason, error.message)
        # The same key again answers with the refund as it stands: one refused earlier stays
        # refused (a person must act), one whose answer was lost is asked again.
        if refund.status in (RefundStatus.FAILED, RefundStatus.MANUAL):
            return await self._to_a_person(order_id, reason, refund.detail or "refused")
        return REFUND_OUTCOMES.get(RefundStatus(refund.status), "refund_retry")

    async def _to_a_person(self, order_id: str, reason: str, why: str) -> str:
        """The gateway will not give the money back: into the payments service's one
        manual-refund queue (the admin's), under the dispense's refund key, so it is listed
        once. The dispense records it as `manual_refund`."""
        try:
            await self.payments.refunds.queue_manual_refund(
                order_id,
                refund_key=refund_key(order_id),
                reason=f"dispense failed: {reason}"[:255],
                detail=f"the gateway refused the refund: {why}"[:1000],
            )
        except PaymentError as error:  # nothing left to give back, or not known yet
            log.error("manual refund not queued: %s", error.message, extra={"order_id": order_id})
        return "manual_refund"

    async def _on_refunded_by_hand(
        self, session: AsyncSession, refund: Refund, now: datetime
    ) -> None:
        """Inside the transaction of `PaymentsService.refunded_by_hand`: the kiosk unit's money
        is back, so its dispense leaves the queue as refunded. Not announced to the machine: its
        customer left long ago."""
        await dispenses.move(
            session,
            refund.order_id,
            ("manual_refund", "failed", "refund_retry"),
            "refunded",
            refund.detail,
            self.now(),
        )

    async def _on_refund_failed(self, session: AsyncSession, refund: Refund, now: datetime) -> None:
        """Inside the transaction that queues for a person a kiosk unit's refund the gateway
        accepted, then failed: the dispense counted as refunded goes back to the queue (a person
        gives the money back, then `_on_refunded_by_hand` closes it). Not announced to the
        machine: its customer left long ago."""
        if refund.refund_key != refund_key(refund.order_id):
            return
        detail = f"the gateway failed the refund: {refund.detail or '-'}"[:1000]
        # Also from before `refunded`: a failure confirmed while the refund's asker has not moved
        # the dispense yet leaves it nothing to move (and nothing to announce).
        waiting = ("refunded", "failed", "refund_retry")
        await dispenses.move(session, refund.order_id, waiting, "manual_refund", detail, now)

    async def _announce(self, machine_id: str, order_id: str, status: str, **extra: Any) -> None:
        try:
            await self.bus.publish(
                f"machine:{machine_id}",
                {"type": "dispense", "order_id": order_id, "status": status, **extra},
            )
        except Exception:
            log.exception("publish failed", extra={"order_id": order_id})

    async def sweep(self) -> int:
        """Dispenses not acknowledged in time count as failed and are refunded: commanded ones
        after `dispense_timeout`, pending ones (the machine never took them: it is away) after
        `offline_refund`. Refunds that met an unreachable gateway, or that a stopped process left
        undone, are tried again. The number of dispenses handled."""
        now = self.now()
        await self._ring_for_pending(now)
        rows = await dispenses.overdue(
            self.db,
            commanded_before=now - self.dispense_timeout,
            pending_before=now - self.offline_refund,
            # failed, but its refund never ran: the refund key makes a second attempt harmless
            failed_before=now - 2 * self.dispense_timeout,
        )
        for order_id, machine_id, status in rows:
            try:
                await self._sweep_one(order_id, machine_id, status)
            except Exception:
                # One dispense the gateway or the database chokes on must not stop the others.
                log.exception("dispense sweep failed", extra={"order_id": order_id})
        return len(rows)

    async def _sweep_one(self, order_id: str, machine_id: str, status: str) -> None:
        reason = "no acknowledgement in time"
        if status == "pending":
            reason = "the machine did not take the order in time (offline)"
        if status in ("commanded", "pending") and not await dispenses.move_now(
            self.db, order_id, (status,), "failed", reason, self.now()
        ):
            return  # another sweep or the machine's answer moved it first
        await self._refund(machine_id, order_id, reason)

    async def _ring_for_pending(self, now: datetime) -> None:
        """A doorbell to machines with a paid order no socket took within `dispense_timeout`
        (its bus message was lost, say): a connected socket then claims it."""
        for machine_id in await dispenses.machines_with_pending(
            self.db, now - self.dispense_timeout
        ):
            try:
                await self.bus.publish(f"machine:{machine_id}", {"type": DISPENSE_DUE})
            except Exception:
                log.exception("publish failed", extra={"machine_id": machine_id})

    async def touch(self, machine_id: str) -> None:
        await registry.seen(self.db, machine_id, self.now())
