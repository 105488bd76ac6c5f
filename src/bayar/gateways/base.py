"""What the payments core needs from a gateway, in neutral words, and the two kinds of failure it
must tell apart.

An adapter maps its gateway's vocabulary (statuses, fraud verdicts, error codes, wire formats) to
the neutral terms here: a report carries a `GatewayEvent` and typed facts, a refusal a `Rejection`.
Nothing outside an adapter (and the sandbox, which emulates the gateways) reads a gateway's words.

A technical failure (`GatewayUnavailable`: timeout, 5xx, connection, unreadable answer) means the
outcome is unknown: retry or reconcile, never treat it as declined. A rejection (`GatewayRejected`)
is the gateway's definite "no". These are the only names of these errors: the core and the edges
catch them as the adapter raised them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True)
class GatewayCallRecord:
    """One outbound call, as the adapter timed it: what its observer is handed."""

    operation: str  # charge | create_snap | status | cancel | expire | refund
    order_id: str | None
    seconds: float
    outcome: str  # ok | rejected | not_found | unavailable
    detail: str | None = None  # why it was not ok, in words safe to keep (no secret)


# Awaited after every outbound call (the payments core's audit: a metric and a row per call).
CallObserver = Callable[[GatewayCallRecord], Awaitable[None]]


class GatewayEvent(StrEnum):
    """What a gateway's report of a transaction means for the order. The values are the core's
    own event names (`bayar.payments.states.Event`), which a test keeps equal."""

    PENDING = "payment_pending"
    CHALLENGED = "payment_challenged"  # held for a fraud review: approved or denied later
    SUCCEEDED = "payment_succeeded"
    DENIED = "payment_denied"
    EXPIRED = "payment_expired"
    CANCELLED = "payment_cancelled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class Rejection(StrEnum):
    """Why a gateway refused a call, whatever its own code for it."""

    INVALID = "invalid"  # the request is malformed or breaks a rule of the gateway's
    UNAUTHORIZED = "unauthorized"  # the credentials, or the account, may not do this
    NOT_FOUND = "not_found"  # no such transaction
    DUPLICATE = "duplicate"  # the id or key was used already (a refund key: refunded already)
    NOT_ALLOWED = "not_allowed"  # not in the transaction's present state
    # This kind of transaction has no cancel at the gateway (a Xendit QRIS payment request): it
    # stays payable until its own expiry.
    CANNOT_CANCEL = "cannot_cancel"
    AMOUNT = "amount"  # the amount is refused (a refund beyond what is left)
    DECLINED = "declined"  # the payer's bank or the fraud check said no
    OTHER = "other"


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
    """A direct charge by one payment method (`bayar.gateways.methods.CHARGE_TYPES`)."""

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
    # The gateway's own words for the transaction's state and its fraud check, kept on the
    # payment row as told.
    gateway_status: str = "pending"
    fraud_verdict: str | None = None
    token: str | None = None
    redirect_url: str | None = None
    # Xendit's hosted invoice page (also the redirect_url): the shop sends the customer there.
    invoice_url: str | None = None
    qr_string: str | None = None
    qr_url: str | None = None
    va_number: str | None = None
    bank: str | None = None
    bill_key: str | None = None
    biller_code: str | None = None
    payment_code: str | None = None
    store: str | None = None
    expiry_time: datetime | None = None


class RefundState(StrEnum):
    """Where a refund stands at the gateway, whatever its own words for it."""

    PENDING = "pending"  # accepted: the gateway gives the money back later, and says so then
    SUCCEEDED = "succeeded"  # the money went back
    FAILED = "failed"  # failed or cancelled: no money went back


@dataclass(frozen=True)
class GatewayRefund:
    """One refund the gateway knows of for the transaction (under our key), and its state."""

    refund_key: str
    amount: int
    state: RefundState


@dataclass(frozen=True)
class GatewayReport:
    """A transaction as the gateway reports it (status API, action answer or notification).

    `event` is what it means for the order (None: a state the adapter does not know, recorded and
    not acted on). `gateway_status` and `fraud_verdict` are the gateway's own words for it, kept on
    the payment row and in the order's history as told, and never interpreted outside the
    adapter."""

    order_id: str
    transaction_id: str
    event: GatewayEvent | None
    gateway_status: str
    gross_amount: int
    currency: str
    payment_type: str
    fraud_verdict: str | None = None
    settled_at: datetime | None = None
    expires_at: datetime | None = None
    # Every refund the gateway knows of ours, whatever its state; `event` counts the succeeded.
    refunds: tuple[GatewayRefund, ...] = ()
    # What the customer pays with, when the report carries it (va_number, bank, bill_key,
    # biller_code, payment_code, store): a Snap order learns its VA number this way.
    payment_details: Mapping[str, str] = field(default_factory=dict, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def refunded_amount(self) -> int:
        """What the gateway gave back: its succeeded refunds (a pending one may still fail)."""
        return sum(r.amount for r in self.refunds if r.state is RefundState.SUCCEEDED)


class GatewayError(Exception):
    """Base of every error an adapter raises; no transport exception escapes an adapter."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GatewayUnavailable(GatewayError):
    """Timeout, connection failure, 5xx or an unreadable answer: the outcome is unknown."""


class GatewayRejected(GatewayError):
    """The gateway definitely refused: validation, duplicate, not allowed in this state...
    `reason` says why in neutral terms; `code` is the gateway's own code, for people to read."""

    def __init__(self, reason: Rejection, code: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotificationMismatch(ValueError):
    """A signed notification whose parts contradict each other (its status code does not fit its
    transaction status): a body someone edited, refused whatever its signature says."""


class TransactionNotFound(GatewayRejected):
    """The gateway has no transaction for this id (e.g. a Snap order with no method chosen yet)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(Rejection.NOT_FOUND, code, message)


class Gateway(Protocol):
    name: str
    # Payment types whose money the gateway's refund API can give back; the others need a person.
    refundable_types: frozenset[str]

    async def charge(self, request: ChargeRequest) -> PaymentInstructions: ...

    async def create_snap(self, request: SnapRequest) -> PaymentInstructions: ...

    async def status(self, order_id: str) -> GatewayReport: ...

    async def cancel(self, order_id: str) -> GatewayReport: ...

    async def expire(self, order_id: str) -> GatewayReport: ...

    async def refund(
        self, order_id: str, *, amount: int | None, refund_key: str, reason: str
    ) -> GatewayReport: ...

    def verify_notification(
        self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> bool:
        """Whether the notification is the gateway's: a signature in the body (Midtrans) or a
        token in a header (Xendit)."""
        ...

    def parse_notification(self, body: Mapping[str, Any]) -> GatewayReport:
        """The notification as a report; ValueError if unreadable, `NotificationMismatch` if its
        parts contradict each other."""
        ...

    def notification_labels(self, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(order id, the gateway's status word) of any notification body, signed or not, read
        or not: what the inbox files it under. None where the body has no such text."""
        ...

    async def aclose(self) -> None: ...
