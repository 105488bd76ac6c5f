"""What the payments core needs from a gateway, and the two kinds of failure it must tell apart.

A technical failure (`GatewayUnavailable`: timeout, 5xx, connection, unreadable answer) means the
outcome is unknown: retry or reconcile, never treat it as declined. A rejection (`GatewayRejected`)
is the gateway's definite "no".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# Called after every outbound call: (operation, seconds, outcome),
# outcome being ok | rejected | unavailable.
CallObserver = Callable[[str, float, str], None]


@dataclass(frozen=True)
class Customer:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class LineItem:
    id: str
    name: str
    price: int
    quantity: int


@dataclass(frozen=True)
class ChargeRequest:
    """A Core API charge (qris, gopay, bank_transfer, echannel, cstore)."""

    order_id: str
    gross_amount: int
    items: tuple[LineItem, ...]
    payment_type: str
    customer: Customer | None = None
    bank: str | None = None
    store: str | None = None
    expiry_seconds: int | None = None
    idempotency_key: str | None = None
    # When the payment window opened (the order's creation): the gateway's expiry is counted from
    # here, so it never outlives the order however late the call is made.
    expiry_start: datetime | None = None


@dataclass(frozen=True)
class SnapRequest:
    order_id: str
    gross_amount: int
    items: tuple[LineItem, ...]
    customer: Customer | None = None
    expiry_seconds: int | None = None
    finish_url: str | None = None
    idempotency_key: str | None = None
    expiry_start: datetime | None = None


@dataclass(frozen=True)
class PaymentInstructions:
    """What the customer needs to pay: the fields the payment type has, the rest None."""

    payment_type: str
    transaction_id: str | None = None
    transaction_status: str = "pending"
    fraud_status: str | None = None
    token: str | None = None
    redirect_url: str | None = None
    qr_string: str | None = None
    qr_url: str | None = None
    va_number: str | None = None
    bank: str | None = None
    bill_key: str | None = None
    biller_code: str | None = None
    payment_code: str | None = None
    store: str | None = None
    expiry_time: datetime | None = None


@dataclass(frozen=True)
class GatewayRefund:
    refund_key: str
    amount: int


@dataclass(frozen=True)
class GatewayStatus:
    """A transaction as the gateway reports it (status API, action answer or notification)."""

    order_id: str
    transaction_id: str
    transaction_status: str
    gross_amount: int
    currency: str
    payment_type: str
    fraud_status: str | None = None
    status_code: str | None = None
    settlement_time: datetime | None = None
    expiry_time: datetime | None = None
    refunds: tuple[GatewayRefund, ...] = ()
    # What the customer pays with, when the report carries it (va_number, bank, bill_key,
    # biller_code, payment_code, store): a Snap order learns its VA number this way.
    payment_details: Mapping[str, str] = field(default_factory=dict, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def refunded_amount(self) -> int:
        return sum(r.amount for r in self.refunds)


class GatewayError(Exception):
    """Base of every error an adapter raises; no transport exception escapes an adapter."""


class GatewayUnavailable(GatewayError):
    """Timeout, connection failure, 5xx or an unreadable answer: the outcome is unknown."""


class GatewayRejected(GatewayError):
    """The gateway definitely refused: validation, duplicate, not allowed in this state..."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NotificationMismatch(ValueError):
    """A signed notification whose parts contradict each other (its status code does not fit its
    transaction status): a body someone edited, refused whatever its signature says."""


class TransactionNotFound(GatewayRejected):
    """The gateway has no transaction for this id (e.g. a Snap order with no method chosen yet)."""


class Gateway(Protocol):
    name: str
    # Payment types whose money the gateway's refund API can give back; the others need a person.
    refundable_types: frozenset[str]

    async def charge(self, request: ChargeRequest) -> PaymentInstructions: ...

    async def create_snap(self, request: SnapRequest) -> PaymentInstructions: ...

    async def status(self, order_id: str) -> GatewayStatus: ...

    async def cancel(self, order_id: str) -> GatewayStatus: ...

    async def expire(self, order_id: str) -> GatewayStatus: ...

    async def refund(
        self, order_id: str, *, amount: int | None, refund_key: str, reason: str
    ) -> GatewayStatus: ...

    def verify_notification(self, body: Mapping[str, Any]) -> bool: ...

    def parse_notification(self, body: Mapping[str, Any]) -> GatewayStatus:
        """The notification as a status; ValueError if unreadable, `NotificationMismatch` if its
        parts contradict each other."""
        ...

    async def aclose(self) -> None: ...
