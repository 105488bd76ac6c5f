"""The Xendit emulator's records: plain dataclasses, stored as JSON by `bayar.sandbox.store`.

Times are sandbox timestamps (floats); `wire.py` renders them as Xendit does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Invoice statuses (reference §4.2) and the ones that mean the money arrived.
INVOICE_PAID = frozenset({"PAID", "SETTLED"})


@dataclass
class Invoice:
    id: str
    external_id: str
    amount: int
    created: float
    updated: float
    expiry_date: float
    status: str = "PENDING"  # PENDING | PAID | SETTLED | EXPIRED
    currency: str = "IDR"
    payer_email: str | None = None
    description: str | None = None
    success_redirect_url: str | None = None
    failure_redirect_url: str | None = None
    should_send_email: bool = False
    locale: str | None = None
    # The channels offered (bank codes, retail outlets, e-wallets, QRIS), in the page's order.
    banks: list[str] = field(default_factory=list)
    retail_outlets: list[str] = field(default_factory=list)
    ewallets: list[str] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] | None = None
    customer: dict[str, Any] | None = None
    fees: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    # Set when paid: POOL/BANK_TRANSFER, RETAIL_OUTLET, EWALLET, QR_CODE; the channel; where.
    payment_method: str | None = None
    payment_channel: str | None = None
    payment_destination: str | None = None
    paid_at: float | None = None
    payment_id: str | None = None
    refunded: int = 0


@dataclass
class PaymentRequest:
    id: str
    reference_id: str
    amount: int
    currency: str
    created: float
    updated: float
    expires_at: float
    payment_method_id: str
    channel_code: str  # QRIS, DANA, LINKAJA… (the QR's issuer)
    qr_string: str
    reusability: str = "ONE_TIME_USE"
    status: str = "PENDING"  # PENDING | SUCCEEDED | FAILED | EXPIRED
    description: str | None = None
    metadata: dict[str, Any] | None = None
    failure_code: str | None = None
    payment_id: str | None = None
    paid_at: float | None = None
    refunded: int = 0


@dataclass
class XRefund:
    id: str
    amount: int
    currency: str
    reason: str
    created: float
    updated: float
    payment_id: str
    payment_method_type: str  # QR_CODE, EWALLET…
    channel_code: str
    payment_request_id: str | None = None
    invoice_id: str | None = None
    reference_id: str | None = None
    status: str = "PENDING"  # PENDING | SUCCEEDED | FAILED
    failure_code: str | None = None
    metadata: dict[str, Any] | None = None
