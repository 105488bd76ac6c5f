"""What the payments core and storage return, as wire models."""

from __future__ import annotations

from typing import Any

from bayar.api.schemas import (
    HistoryOut,
    OrderItemOut,
    OrderOut,
    PaymentOut,
    RefundOut,
    TransactionOut,
)
from bayar.payments.reads import OrderDetails, customer_payment, declined_attempt
from bayar.storage.snapshots import OrderSnapshot, RefundSnapshot


def payment_out(shown: dict[str, Any] | None) -> PaymentOut | None:
    """A payment as `payments.reads.customer_payment` shows it to a customer."""
    return None if shown is None else PaymentOut(**shown)


def refund_out(refund: RefundSnapshot) -> RefundOut:
    return RefundOut(
        refund_key=refund.refund_key,
        amount=refund.amount,
        status=refund.status,
        reason=refund.reason or None,
        created_at=refund.created_at,
    )


def transaction_out(order: OrderSnapshot, payment: PaymentOut | None) -> TransactionOut:
    return TransactionOut(
        order_id=order.id,
        status=order.status,
        gross_amount=order.gross_amount,
        expiry_time=order.expires_at,
        payment=payment,
    )


def order_out(details: OrderDetails) -> OrderOut:
    order = details.order
    return OrderOut(
        order_id=order.id,
        status=order.status,
        gross_amount=order.gross_amount,
        currency=order.currency,
        channel=order.channel,
        machine_id=order.machine_id,
        created_at=order.created_at,
        expiry_time=order.expires_at,
        items=[
            OrderItemOut(product_id=i.product_id, name=i.name, price=i.price, quantity=i.quantity)
            for i in details.items
        ],
        payment=payment_out(customer_payment(details.payment)),
        refunds=[refund_out(r) for r in details.refunds],
        history=[
            HistoryOut(
                from_status=h.from_status,
                to_status=h.to_status,
                event=h.event,
                source=h.source,
                ignored=h.ignored,
                note=h.note,
                at=h.at,
            )
            for h in details.history
        ],
        declined_attempt=declined_attempt(order.status, details.history),
    )
