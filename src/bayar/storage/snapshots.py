"""Typed snapshots of rows, for the edges: frozen, detached from any session, and nothing an edge
can change the database through. Each is made from its row by `of`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from bayar.storage import models

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Snap = TypeVar("Snap", bound="DataclassInstance")


def _copy(cls: type[Snap], row: object, **given: Any) -> Snap:
    """A snapshot of `row`: each field from the row's attribute of the same name, or from `given`
    (what must be copied rather than shared, a JSON column's dict)."""
    return cls(
        **{f.name: given[f.name] if f.name in given else getattr(row, f.name) for f in fields(cls)}
    )


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
        return _copy(cls, row, customer=dict(row.customer) if row.customer else None)


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
        return _copy(cls, row, instructions=dict(row.instructions or {}))


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
        return _copy(cls, row)


@dataclass(frozen=True)
class ItemSnapshot:
    product_id: str
    slot_code: str | None
    name: str
    price: int
    quantity: int

    @classmethod
    def of(cls, row: models.OrderItem) -> ItemSnapshot:
        return _copy(cls, row)


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
        return _copy(cls, row)


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
        return _copy(cls, row)


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
        return _copy(cls, row, headers=dict(row.headers or {}))


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
        return _copy(cls, row)
