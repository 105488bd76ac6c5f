"""The sandbox's records. Plain dataclasses, stored as JSON by `store.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# transaction_status values that end a transaction's payment life (refunds may still follow).
CLOSED_UNPAID = frozenset({"deny", "cancel", "expire", "failure"})
PAID = frozenset({"capture", "settlement", "refund", "partial_refund"})
REFUNDABLE_TYPES = frozenset({"credit_card", "gopay", "qris", "shopeepay"})


@dataclass
class Refund:
    refund_chargeback_id: int
    refund_amount: int
    created_at: float
    reason: str
    refund_key: str
    refund_method: str
    bank_confirmed_at: float | None = None


@dataclass
class Transaction:
    transaction_id: str
    order_id: str
    payment_type: str
    gross_amount: int
    transaction_status: str
    transaction_time: float
    fraud_status: str | None = None
    expiry_time: float | None = None
    settlement_time: float | None = None
    currency: str = "IDR"
    # Payment-type fields as Midtrans names them (va_numbers, bill_key, qr_string, masked_card...).
    details: dict[str, Any] = field(default_factory=dict)
    refunds: list[Refund] = field(default_factory=list)
    item_details: list[dict[str, Any]] = field(default_factory=list)
    customer_details: dict[str, Any] = field(default_factory=dict)
    custom_fields: dict[str, str] = field(default_factory=dict)
    override_urls: list[str] = field(default_factory=list)
    append_urls: list[str] = field(default_factory=list)
    snap_token: str | None = None
    card_token: str | None = None  # the card behind a pending 3-D Secure charge
    status_message: str = ""
    # Earlier notification bodies in order, so a fault drill can replay a stale one.
    sent_bodies: list[str] = field(default_factory=list)

    @property
    def refunded_amount(self) -> int:
        return sum(r.refund_amount for r in self.refunds)


@dataclass
class SnapSession:
    token: str
    order_id: str
    gross_amount: int
    created_at: float
    expires_at: float
    request: dict[str, Any]
    override_urls: list[str] = field(default_factory=list)
    append_urls: list[str] = field(default_factory=list)
    voided: bool = False
    transaction_id: str | None = None


@dataclass
class CardToken:
    token_id: str
    card_number: str
    exp_month: str
    exp_year: str
    created_at: float
    secure: bool = False
    saved: bool = False


@dataclass
class Attempt:
    at: float
    outcome: str  # an HTTP status as text, "timeout", "connection error", "dropped", "redirect"
    detail: str = ""


@dataclass
class Delivery:
    id: str
    transaction_id: str
    order_id: str
    url: str
    body: str
    created_at: float
    transaction_status: str
    state: str = "queued"  # queued | delivered | failed | dropped
    due_at: float = 0.0
    retries: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    gateway: str = "midtrans"  # whose rules: midtrans | xendit (headers, retries)
    event_id: str = ""  # Xendit's `webhook-id`: one per event, the same on every retry and copy


# -- GoPay tokenization and subscriptions (accounts.py, subscriptions.py) ---------------------------


@dataclass
class PayAccount:
    """A GoPay account linked to the merchant (`/v2/pay/account`)."""

    account_id: str
    phone_number: str
    country_code: str
    created_at: float
    account_status: str = "PENDING"  # PENDING | ENABLED | DISABLED | EXPIRED
    redirect_url: str = ""
    reference_id: str = ""
    # payment option name (GOPAY_WALLET, PAY_LATER) -> its token, once ENABLED
    tokens: dict[str, str] = field(default_factory=dict)


@dataclass
class Subscription:
    """A recurring charge (`/v1/subscriptions`); times are sandbox timestamps."""

    id: str
    name: str
    amount: int
    currency: str
    payment_type: str  # credit_card | gopay
    token: str
    created_at: float
    interval: int
    interval_unit: str  # day | week | month
    start_time: float
    next_execution_at: float | None
    max_interval: int | None = None
    current_interval: int = 0
    previous_execution_at: float | None = None
    status: str = "active"  # active | inactive
    account_id: str | None = None  # gopay.account_id
    metadata: dict[str, Any] = field(default_factory=dict)
    customer_details: dict[str, Any] = field(default_factory=dict)
    retry_schedule: dict[str, Any] | None = None  # {interval, interval_unit, max_interval}
    transaction_ids: list[str] = field(default_factory=list)
    retry_at: float | None = None  # when the failed execution is tried again
    retries: int = 0  # retries of the current execution so far
