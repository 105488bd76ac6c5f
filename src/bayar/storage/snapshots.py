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
