"""Typed snapshots of rows, for the edges: frozen, detached from any session, and nothing an edge
can change the database through. Each is made from its row by `of`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bayar.storage import models


@dataclass(frozen=True)
class OrderSnapshot:
    id: str
    status: str
    channel: str
    machine_id: str | None
    gross_amount: int
    currency: str
    payment_type: str
    customer: dict[str, Any] | None
    idempotency_key: str | None
    expires_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, row: models.Order) -> OrderSnapshot:
        return cls(
            id=row.id,
            status=row.status,
            channel=row.channel,
            machine_id=row.machine_id,
            gross_amount=row.gross_amount,
            currency=row.currency,
            payment_type=row.payment_type,
            customer=dict(row.customer) if row.customer else None,
            idempotency_key=row.idempotency_key,
            expires_at=row.expires_at,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class PaymentSnapshot:
    order_id: str
    gateway: str
    transaction_id: str | None
    payment_type: str
    amount: int
    status: str
    fraud_status: str | None
    instructions: dict[str, Any]
    refunded_amount: int

    @classmethod
    def of(cls, row: models.Payment) -> PaymentSnapshot:
        return cls(
            order_id=row.order_id,
            gateway=row.gateway,
            transaction_id=row.transaction_id,
            payment_type=row.payment_type,
            amount=row.amount,
            status=row.status,
            fraud_status=row.fraud_status,
            instructions=dict(row.instructions or {}),
            refunded_amount=row.refunded_amount,
        )


@dataclass(frozen=True)
class ProductSnapshot:
    id: str
    name: str
    price: int
    stock: int
    image_url: str | None
    description: str | None
    category: str | None

    @classmethod
    def of(cls, row: models.Product) -> ProductSnapshot:
        return cls(
            id=row.id,
            name=row.name,
            price=row.price,
            stock=row.stock,
            image_url=row.image_url,
            description=row.description,
            category=row.category,
        )


@dataclass(frozen=True)
class ItemSnapshot:
    product_id: str
    slot_code: str | None
    name: str
    price: int
    quantity: int

    @classmethod
    def of(cls, row: models.OrderItem) -> ItemSnapshot:
        return cls(row.product_id, row.slot_code, row.name, row.price, row.quantity)


@dataclass(frozen=True)
class EventSnapshot:
    """An entry of an order's history: a transition, or an event it ignored."""

    id: int
    from_status: str | None
    to_status: str
    event: str
    source: str
    ignored: bool
    note: str | None
    at: datetime

    @classmethod
    def of(cls, row: models.OrderEvent) -> EventSnapshot:
        return cls(
            id=row.id,
            from_status=row.from_status,
            to_status=row.to_status,
            event=row.event,
            source=row.source,
            ignored=row.ignored,
            note=row.note,
            at=row.at,
        )


@dataclass(frozen=True)
class RefundSnapshot:
    order_id: str
    refund_key: str
    amount: int
    reason: str | None
    status: str
    detail: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: models.Refund) -> RefundSnapshot:
        return cls(
            order_id=row.order_id,
            refund_key=row.refund_key,
            amount=row.amount,
            reason=row.reason,
            status=row.status,
            detail=row.detail,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class NotificationSnapshot:
    """A notification received, as it was kept (its body cut and its headers as received)."""

    id: int
    transaction_status: str | None
    body: str
    headers: dict[str, Any]
    signature_valid: bool
    outcome: str
    received_at: datetime

    @classmethod
    def of(cls, row: models.Notification) -> NotificationSnapshot:
        return cls(
            id=row.id,
            transaction_status=row.transaction_status,
            body=row.body,
            headers=dict(row.headers or {}),
            signature_valid=row.signature_valid,
            outcome=row.outcome,
            received_at=row.received_at,
        )


@dataclass(frozen=True)
class GatewayCallSnapshot:
    id: int
    operation: str
    outcome: str
    detail: str | None
    duration_ms: int
    at: datetime

    @classmethod
    def of(cls, row: models.GatewayCall) -> GatewayCallSnapshot:
        return cls(
            id=row.id,
            operation=row.operation,
            outcome=row.outcome,
            detail=row.detail,
            duration_ms=row.duration_ms,
            at=row.at,
        )
