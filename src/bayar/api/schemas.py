"""Wire models of the API (the contract kiosks, the shop and outside front ends rely on)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bayar.gateways.methods import Bank, PaymentType, Store
from bayar.gateways.midtrans.wire import NOTIFICATION_LIMITS

# A phone number: 8 to 15 digits (E.164's longest), written with separators people use. The shop's
# checkout form (storefront/static/shop.js) checks the same before sending.
PHONE_DIGITS = (8, 15)
PHONE_SEPARATORS = re.compile(r"[\s\-().]")


class Problem(BaseModel):
    detail: str


class CartItem(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a client's "price" is ignored: the server prices

    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=100)


class CustomerIn(BaseModel):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(
        default=None,
        max_length=30,
        description="8 to 15 digits, an optional leading +; spaces, dashes, dots, brackets allowed",
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        """Says which rule a number breaks: "0812" is too short, not "not digits"."""
        if value is None:
            return None
        digits = PHONE_SEPARATORS.sub("", value)
        if not re.fullmatch(r"\+?[0-9]+", digits):
            raise ValueError("use digits only, e.g. 0812 3456 7890 or +62 812 3456 7890")
        count = len(digits.removeprefix("+"))
        if count < PHONE_DIGITS[0]:
            raise ValueError(
                f"too short: a phone number has at least {PHONE_DIGITS[0]} digits"
                f" ({count} given), e.g. 0812 3456 7890"
            )
        if count > PHONE_DIGITS[1]:
            raise ValueError(
                f"too long: a phone number has at most {PHONE_DIGITS[1]} digits ({count} given)"
            )
        return value


class CreateTransaction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[CartItem] = Field(min_length=1, max_length=50)
    customer: CustomerIn | None = None
    payment_type: PaymentType = PaymentType.SNAP
    bank: Bank | None = None
    store: Store | None = None
    machine_id: str | None = Field(default=None, max_length=64)
    finish_url: str | None = Field(default=None, max_length=500)
    # Which gateway takes the payment; unset: BAYAR_GATEWAY.
    gateway: Literal["midtrans", "xendit"] | None = None


class PaymentOut(BaseModel):
    payment_type: str
    status: str | None = None
    transaction_id: str | None = None
    token: str | None = None
    redirect_url: str | None = None
    invoice_url: str | None = None  # Xendit: the hosted invoice page to send the customer to
    qr_string: str | None = None
    qr_url: str | None = None
    va_number: str | None = None
    bank: str | None = None
    bill_key: str | None = None
    biller_code: str | None = None
    payment_code: str | None = None
    store: str | None = None


class TransactionOut(BaseModel):
    order_id: str
    status: str
    gross_amount: int
    expiry_time: datetime
    payment: PaymentOut | None


class OrderItemOut(BaseModel):
    product_id: str
    name: str
    price: int
    quantity: int


class HistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    event: str
    source: str
    ignored: bool
    note: str | None
    at: datetime


class RefundOut(BaseModel):
    refund_key: str
    amount: int
    status: str
    reason: str | None = None
    created_at: datetime


class OrderOut(BaseModel):
    order_id: str
    status: str
    gross_amount: int
    currency: str
    channel: str
    machine_id: str | None
    created_at: datetime
    expiry_time: datetime
    items: list[OrderItemOut]
    payment: PaymentOut | None
    refunds: list[RefundOut]
    history: list[HistoryOut]
    declined_attempt: bool = Field(
        default=False,
        description="still pending, and the last attempt was declined: pay another way",
    )


class ProductOut(BaseModel):
    id: str
    name: str
    price: int
    stock: int
    image_url: str | None
    description: str | None = None
    category: str | None = None


class ClientConfig(BaseModel):
    """What a front end on another origin needs to pay: never a secret."""

    gateway: Literal["midtrans", "xendit"] = Field(
        description="who takes the money when a checkout names no gateway: Midtrans (snap.js"
        " popup) or Xendit (invoice page)"
    )
    gateways: list[Literal["midtrans", "xendit"]] = Field(
        description="the gateways configured here, the default first: a checkout may name any"
    )
    sandbox: bool = Field(description="bayar's own sandbox is the gateway: no real money")
    production: bool = Field(description="Midtrans' production (real money)")
    client_key: str | None = Field(
        description="Midtrans' public client key (snap.js data-client-key); null: Midtrans is not"
        " configured here"
    )
    snap_js_url: str | None = Field(
        description="where the browser loads snap.js from; null: Midtrans is not configured here"
    )


class RefundIn(BaseModel):
    amount: int | None = Field(
        default=None, ge=1, description="rupiah; omit for the whole remainder"
    )
    refund_key: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9\-_.~]+$")
    reason: str = Field(default="", max_length=255)


class RefundResult(BaseModel):
    order_id: str
    order_status: str
    refund: RefundOut


class NotificationReceipt(BaseModel):
    status: str
    order_id: str | None = None
    detail: str | None = None


NOTIFICATION_SCHEMA: dict[str, object] = {
    "type": "object",
    "description": "a Midtrans HTTP notification (its other fields are kept as received)",
    "properties": {name: {"maxLength": limit} for name, limit in NOTIFICATION_LIMITS.items()},
}


class AdminProductOut(BaseModel):
    """A product of the owner's catalog: `stock` is the units free to sell, `held` those open
    orders hold; `active` false is hidden, `archived` is off sale for good (kept for old orders)."""

    id: str
    name: str
    description: str | None
    price: int
    stock: int
    category: str | None
    image_url: str | None
    active: bool
    archived: bool
    held: int


class AdminProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_\-]*$",
        description="made of the name when left out",
    )
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    price: int = Field(ge=1, le=100_000_000, description="rupiah")
    stock: int = Field(default=0, ge=0, le=1_000_000, description="units free to sell")
    category: str = Field(default="", max_length=64)
    active: bool = Field(default=True, description="on sale (false: hidden)")


class AdminProductPatch(BaseModel):
    """The fields to change; the others stay as they are ("" clears description or category)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    price: int | None = Field(default=None, ge=1, le=100_000_000, description="rupiah")
    stock: int | None = Field(default=None, ge=0, le=1_000_000, description="units free to sell")
    category: str | None = Field(default=None, max_length=64)
    active: bool | None = Field(default=None, description="on sale (false: hidden)")
