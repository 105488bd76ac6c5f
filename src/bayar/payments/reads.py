"""Read models: an order as the edges show it (snapshots, detached from any session), and what a
customer may see of its payment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bayar.i18n import N_
from bayar.payments.errors import OrderNotFound
from bayar.payments.states import Status
from bayar.payments.verdicts import RETRY_NOTE, UNANSWERED
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import Order
from bayar.storage.snapshots import (
    EventSnapshot,
    GatewayCallSnapshot,
    ItemSnapshot,
    NotificationSnapshot,
    OrderSnapshot,
    PaymentSnapshot,
    RefundSnapshot,
)


def customer_payment(payment: PaymentSnapshot | None) -> dict[str, Any] | None:
    """What a customer may see of a payment (the API's `payment`, the shop's order page)."""
    if payment is None or payment.status in NO_PAYMENT:
        return None
    instructions = payment.instructions
    return {
        "payment_type": payment.payment_type,
        "status": payment.status,
        "transaction_id": payment.transaction_id,
        **{k: instructions.get(k) for k in INSTRUCTION_FIELDS},
    }


def declined_attempt(status: str, history: Sequence[EventSnapshot]) -> bool:
    """The order is still open and the last thing that happened to it was a declined attempt
    (a card the bank refused, noted with RETRY_NOTE): what the customer is told on the order page,
    with what to do next (another card or method). Anything after it (another method chosen, a
    payment) ends it."""
    return status == Status.PENDING.value and bool(history) and history[-1].note == RETRY_NOTE


# Payments with nothing to show a customer: not answered by the gateway yet, or refused.
NO_PAYMENT = (*UNANSWERED, "rejected")


# How to pay, as the gateway's create answer (and later reports) told it.
INSTRUCTION_FIELDS = (
    "token",
    "redirect_url",
    "invoice_url",
    "qr_string",
    "qr_url",
    "va_number",
    "bank",
    "bill_key",
    "biller_code",
    "payment_code",
    "store",
)


@dataclass(frozen=True)
class OrderDetails:
    """An order and everything recorded about it, as read in one session."""

    order: OrderSnapshot
    items: list[ItemSnapshot]
    payment: PaymentSnapshot | None
    history: list[EventSnapshot]
    refunds: list[RefundSnapshot]
    notifications: list[NotificationSnapshot]
    gateway_calls: list[GatewayCallSnapshot]


class OrderReads:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def order(self, order_id: str) -> OrderSnapshot:
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise OrderNotFound(N_("no order %(order)s"), order=order_id)
            return OrderSnapshot.of(order)

    async def payment(self, order_id: str) -> PaymentSnapshot | None:
        """The order's payment as the gateway last reported it (None: none made yet)."""
        async with self.db.session() as session:
            payment = await repo.payment_of(session, order_id)
            return None if payment is None else PaymentSnapshot.of(payment)

    async def order_details(self, order_id: str) -> OrderDetails:
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise OrderNotFound(N_("no order %(order)s"), order=order_id)
            payment = await repo.payment_of(session, order_id)
            return OrderDetails(
                order=OrderSnapshot.of(order),
                items=[ItemSnapshot.of(i) for i in await repo.items_of(session, order_id)],
                payment=None if payment is None else PaymentSnapshot.of(payment),
                history=[EventSnapshot.of(e) for e in await repo.history_of(session, order_id)],
                refunds=[RefundSnapshot.of(r) for r in await repo.refunds_of(session, order_id)],
                notifications=[
                    NotificationSnapshot.of(n)
                    for n in await repo.notifications_of(session, order_id)
                ],
                gateway_calls=[
                    GatewayCallSnapshot.of(c)
                    for c in await repo.gateway_calls_of(session, order_id)
                ],
            )
