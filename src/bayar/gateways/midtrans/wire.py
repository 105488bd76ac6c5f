"""Midtrans' JSON: request bodies built from our requests, answers and notifications read into ours.

Midtrans' words stay here: its transaction_status and fraud_status become a neutral
`GatewayEvent`, its error codes a `Rejection`, its notification status codes are checked here.

Amounts are integer rupiah. Midtrans sends them as strings with two decimals ("10000.00"); they are
read as text and decimals, never as floats, and a fraction of a rupiah is an error. Times are
"YYYY-MM-DD HH:MM:SS" in GMT+7 and become aware datetimes. Anything unreadable raises ValueError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from bayar.gateways.base import (
    ChargeRequest,
    Customer,
    GatewayEvent,
    GatewayRefund,
    GatewayReport,
    LineItem,
    PaymentInstructions,
    RefundState,
    Rejection,
    SnapRequest,
)
from bayar.gateways.methods import CHARGE_TYPES, PaymentType

WIB = timezone(timedelta(hours=7), "WIB")
# Midtrans omits `currency` in some answers and notifications (cancel, refund, older samples);
# the Core API and Snap charge in rupiah only.
DEFAULT_CURRENCY = "IDR"
ITEM_NAME_MAX = 50  # Midtrans' limit on item_details[].name
ECHANNEL_BILL_INFO = {"bill_info1": "Payment:", "bill_info2": "bayar"}
CSTORE_MESSAGE = "bayar"

# Payment types Midtrans' refund API gives money back for (reference 3.4); bank transfers, Mandiri
# bill and convenience stores cannot be refunded through the API.
REFUNDABLE_TYPES = frozenset(
    {"credit_card", "gopay", "qris", "shopeepay", "dana", "ovo", "kredivo", "akulaku"}
)
# What a transaction_status means (reference 3.8); capture and settlement depend on the fraud
# check (`event_of`).
EVENTS = {
    "pending": GatewayEvent.PENDING,
    "authorize": GatewayEvent.PENDING,
    "deny": GatewayEvent.DENIED,
    "failure": GatewayEvent.DENIED,
    "expire": GatewayEvent.EXPIRED,
    "cancel": GatewayEvent.CANCELLED,
    "refund": GatewayEvent.REFUNDED,
    "partial_refund": GatewayEvent.PARTIALLY_REFUNDED,
    "chargeback": GatewayEvent.REFUNDED,
    "partial_chargeback": GatewayEvent.PARTIALLY_REFUNDED,
}
CAPTURED = frozenset({"capture", "settlement"})
# Why Midtrans refused a call, by its code (reference 3.7); any other 4xx is `Rejection.OTHER`.
REJECTIONS = {
    400: Rejection.INVALID,
    401: Rejection.UNAUTHORIZED,
    402: Rejection.UNAUTHORIZED,  # no access to this payment type
    403: Rejection.UNAUTHORIZED,
    404: Rejection.NOT_FOUND,
    405: Rejection.INVALID,
    406: Rejection.DUPLICATE,  # a used order_id, or "Duplicate refund ID"
    408: Rejection.INVALID,  # a field of the wrong type
    409: Rejection.DECLINED,  # too many attempts with one card
    410: Rejection.UNAUTHORIZED,  # the account is deactivated
    411: Rejection.DECLINED,  # the card token is missing, invalid or timed out
    412: Rejection.NOT_ALLOWED,  # "Merchant cannot modify the status of the transaction"
    413: Rejection.INVALID,  # a syntax error in the body
    414: Rejection.AMOUNT,  # a refund of an invalid amount
}
# The body `status_code` a notification of each transaction_status carries (reference 3.9).
# Only order_id, status_code and gross_amount are signed: a status that does not fit its code is
# a body someone edited.
NOTIFICATION_CODES: dict[str, frozenset[str]] = {
    "pending": frozenset({"201"}),
    "authorize": frozenset({"200", "201"}),
    "capture": frozenset({"200"}),
    "settlement": frozenset({"200"}),
    "refund": frozenset({"200"}),
    "partial_refund": frozenset({"200"}),
    "chargeback": frozenset({"200"}),
    "partial_chargeback": frozenset({"200"}),
    "deny": frozenset({"202"}),
    "expire": frozenset({"202"}),
    "cancel": frozenset({"202"}),
    "failure": frozenset({"202"}),
}
# Notification fields bayar stores or looks up, and the longest each may be (the columns that hold
# them). Midtrans never sends longer; a longer one is refused (422) before anything is stored.
# Only strings are bounded: a field of another type is the inbox's to judge (it cannot be signed).
NOTIFICATION_LIMITS: dict[str, int] = {
    "order_id": 64,
    "transaction_id": 64,
    "transaction_status": 32,
    "fraud_status": 16,
    "payment_type": 32,
    "status_code": 8,
    "gross_amount": 32,
    "currency": 8,
    "signature_key": 256,
}
# A card capture under review is notified as pending (201); one the fraud check denied as 202.
CAPTURE_CODES_BY_FRAUD = {"challenge": "201", "deny": "202"}

_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
_CODE = re.compile(r"[0-9]{3}")
# "YYYY-MM-DD HH:MM:SS", then an offset if any ("+0700", "+07:00", "Z"). Read by hand: strptime
# took a tenth of a notification's CPU (py-spy, bench/webhooks.py).
_TIME = re.compile(
    r"(\d{4})-(\d\d?)-(\d\d?) (\d\d?):(\d\d?):(\d\d?)(?: ?(?:([+-])(\d\d):?(\d\d)|(Z)))?"
)

# -- reading values -------------------------------------------------------------------------------


def parse_amount(value: object, field: str = "gross_amount") -> int:
    """Whole rupiah from "10000.00", "10000" or 10000, exactly (never through a float); ValueError
    for anything else ("10000.50", "-1", "1e4", "1_000"). bayar's one parser of gateway amounts."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{field} must be a string or an integer, not {type(value).__name__}")
    if isinstance(value, int):
        amount = value
    else:
        text = value.strip()
        if not _AMOUNT.fullmatch(text):
            raise ValueError(f"{field} is not an amount: {value!r}")
        exact = Decimal(text)
        if exact != exact.to_integral_value():
            raise ValueError(f"{field} is not a whole number of rupiah: {value!r}")
        amount = int(exact)
    if amount < 0:
        raise ValueError(f"{field} must not be negative: {value!r}")
    return amount


def parse_time(value: object, field: str) -> datetime | None:
    """A Midtrans time ("YYYY-MM-DD HH:MM:SS", GMT+7, optionally with "+0700") or None if absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    found = _TIME.fullmatch(value.strip())
    if found is None:
        raise ValueError(f"{field} is not a Midtrans time: {value!r}")
    year, month, day, hour, minute, second = (int(part) for part in found.group(1, 2, 3, 4, 5, 6))
    sign, hours, minutes, zulu = found.group(7, 8, 9, 10)
    zone = WIB
    if zulu:
        zone = UTC
    elif sign:
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        raise ValueError(f"{field} is not a Midtrans time: {value!r}") from None


def _text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} is missing or not a string")
    return value


def _optional_text(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{field} must be a string")
    return str(value)


# -- statuses: GET status, action answers, notifications ------------------------------------------


def _refunds(body: Mapping[str, Any]) -> tuple[GatewayRefund, ...]:
    listed = body.get("refunds")
    if listed is not None:
        if not isinstance(listed, list):
            raise ValueError("refunds must be a list")
        refunds = []
        for i, entry in enumerate(listed):
            if not isinstance(entry, Mapping):
                raise ValueError(f"refunds[{i}] must be an object")
            refunds.append(
                GatewayRefund(
                    refund_key=_optional_text(entry, "refund_key") or "",
                    amount=parse_amount(entry.get("refund_amount"), f"refunds[{i}].refund_amount"),
                    state=RefundState.SUCCEEDED,  # Midtrans lists a refund once it is made
                )
            )
        return tuple(refunds)
    # A refund answer (POST /refund) names only the refund it made.
    if body.get("refund_amount") is not None:
        return (
            GatewayRefund(
                refund_key=_optional_text(body, "refund_key") or "",
                amount=parse_amount(body["refund_amount"], "refund_amount"),
                state=RefundState.SUCCEEDED,
            ),
        )
    return ()


def event_of(transaction_status: str, fraud_status: str | None) -> GatewayEvent | None:
    """Midtrans' transaction_status and fraud_status as a neutral event; None if unknown."""
    if transaction_status in CAPTURED:
        if fraud_status == "challenge":
            return GatewayEvent.CHALLENGED
        if fraud_status in (None, "", "accept"):
            return GatewayEvent.SUCCEEDED
        return GatewayEvent.DENIED
    return EVENTS.get(transaction_status)


def parse_status(body: Mapping[str, Any]) -> GatewayReport:
    """A transaction from a GET status answer, an action answer or a notification body."""
    transaction_status = _text(body, "transaction_status")
    fraud_status = _optional_text(body, "fraud_status")
    return GatewayReport(
        order_id=_text(body, "order_id"),
        transaction_id=_text(body, "transaction_id"),
        event=event_of(transaction_status, fraud_status),
        gateway_status=transaction_status,
        gross_amount=parse_amount(body.get("gross_amount")),
        currency=_optional_text(body, "currency") or DEFAULT_CURRENCY,
        payment_type=_text(body, "payment_type"),
        fraud_verdict=fraud_status,
        settled_at=parse_time(body.get("settlement_time"), "settlement_time"),
        expires_at=parse_time(body.get("expiry_time"), "expiry_time"),
        refunds=_refunds(body),
        payment_details=_payment_details(body),
        raw=dict(body),
    )


def notification_code_fits(body: Mapping[str, Any]) -> bool:
    """True if a notification's status_code is the one Midtrans sends for its status."""
    transaction_status = _optional_text(body, "transaction_status") or ""
    allowed = NOTIFICATION_CODES.get(transaction_status)
    if allowed is None:  # a status we do not know: the core records it and changes nothing
        return True
    fraud_status = _optional_text(body, "fraud_status")
    if transaction_status == "capture" and fraud_status in CAPTURE_CODES_BY_FRAUD:
        allowed = allowed | {CAPTURE_CODES_BY_FRAUD[fraud_status]}
    return _optional_text(body, "status_code") in allowed


def notification_labels(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(order_id, transaction_status) of any body, where they are text."""
    order_id, status = body.get("order_id"), body.get("transaction_status")
    return (
        order_id if isinstance(order_id, str) else None,
        status if isinstance(status, str) else None,
    )


def rejection_of(code: int) -> Rejection:
    """Why Midtrans refused, from its 4xx code."""
    return REJECTIONS.get(code, Rejection.OTHER)


def wib_time(moment: datetime) -> str:
    """A time as Midtrans reads it in requests: "YYYY-MM-DD HH:MM:SS +0700"."""
    return moment.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S +0700")


def _payment_details(body: Mapping[str, Any]) -> dict[str, str]:
    va_number, bank = _virtual_account(body)
    found = {
        "va_number": va_number,
        "bank": bank,
        "bill_key": _optional_text(body, "bill_key"),
        "biller_code": _optional_text(body, "biller_code"),
        "payment_code": _optional_text(body, "payment_code"),
        "store": _optional_text(body, "store"),
    }
    return {k: v for k, v in found.items() if v is not None}


# -- charge and Snap answers ----------------------------------------------------------------------


def _action_url(body: Mapping[str, Any], name: str) -> str | None:
    actions = body.get("actions")
    if not isinstance(actions, list):
        return None
    for action in actions:
        if isinstance(action, Mapping) and action.get("name") == name:
            url = action.get("url")
            return url if isinstance(url, str) and url else None
    return None


def _virtual_account(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    numbers = body.get("va_numbers")
    if isinstance(numbers, list) and numbers:
        first = numbers[0]
        if not isinstance(first, Mapping):
            raise ValueError("va_numbers[0] must be an object")
        return _optional_text(first, "va_number"), _optional_text(first, "bank")
    permata = _optional_text(body, "permata_va_number")
    if permata is not None:
        return permata, "permata"
    return None, None


def parse_charge(body: Mapping[str, Any]) -> PaymentInstructions:
    """What the customer needs from a Core API charge answer (any payment type)."""
    va_number, bank = _virtual_account(body)
    return PaymentInstructions(
        payment_type=_text(body, "payment_type"),
        transaction_id=_text(body, "transaction_id"),
        gateway_status=_text(body, "transaction_status"),
        fraud_verdict=_optional_text(body, "fraud_status"),
        # A 3-D Secure card answer has redirect_url; GoPay has its app deeplink as an action.
        redirect_url=_optional_text(body, "redirect_url") or _action_url(body, "deeplink-redirect"),
        qr_string=_optional_text(body, "qr_string"),
        qr_url=_action_url(body, "generate-qr-code"),
        va_number=va_number,
        bank=bank,
        bill_key=_optional_text(body, "bill_key"),
        biller_code=_optional_text(body, "biller_code"),
        payment_code=_optional_text(body, "payment_code"),
        store=_optional_text(body, "store"),
        expiry_time=parse_time(body.get("expiry_time"), "expiry_time"),
    )


def parse_snap(body: Mapping[str, Any]) -> PaymentInstructions:
    """A Snap answer `{token, redirect_url}`; the payment type stays "snap" until one is picked."""
    return PaymentInstructions(
        payment_type=PaymentType.SNAP,
        token=_text(body, "token"),
        redirect_url=_text(body, "redirect_url"),
    )


# -- error answers --------------------------------------------------------------------------------


def body_code(body: Mapping[str, Any]) -> int | None:
    """The body's `status_code` ("201", "407", ...) as a number, or None if it has none."""
    code = body.get("status_code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    return int(code) if isinstance(code, str) and _CODE.fullmatch(code) else None


def error_of(body: Mapping[str, Any], http_status: int) -> tuple[str, str]:
    """(code, message) of an error answer: Core `{status_code, status_message, validation_messages}`
    or Snap `{error_messages}`; the code is the body's when it has one, else the HTTP status."""
    code = body_code(body)
    code_text = str(code if code is not None else http_status)
    parts: list[str] = []
    message = body.get("status_message")
    if isinstance(message, str) and message:
        parts.append(message)
    for key in ("validation_messages", "error_messages"):
        extra = body.get(key)
        if isinstance(extra, list):
            parts.extend(str(m) for m in extra)
    return code_text, "; ".join(parts) or f"HTTP {http_status}"


# -- request bodies -------------------------------------------------------------------------------


def _items(items: tuple[LineItem, ...]) -> list[dict[str, Any]]:
    return [
        {"id": i.id, "name": i.name[:ITEM_NAME_MAX], "price": i.price, "quantity": i.quantity}
        for i in items
    ]


def _customer(customer: Customer) -> dict[str, str]:
    fields = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
    }
    return {k: v for k, v in fields.items() if v}


def _common(
    order_id: str, gross_amount: int, items: tuple[LineItem, ...], customer: Customer | None
) -> dict[str, Any]:
    if not order_id:
        raise ValueError("order_id is required")
    if isinstance(gross_amount, bool) or not isinstance(gross_amount, int) or gross_amount < 1:
        raise ValueError("gross_amount must be a positive integer of rupiah")
    body: dict[str, Any] = {
        "transaction_details": {"order_id": order_id, "gross_amount": gross_amount}
    }
    if items:
        body["item_details"] = _items(items)
    if customer is not None and _customer(customer):
        body["customer_details"] = _customer(customer)
    return body


def _positive(seconds: int, field: str) -> int:
    if seconds < 1:
        raise ValueError(f"{field} must be at least 1 second")
    return seconds


def charge_body(request: ChargeRequest) -> dict[str, Any]:
    """The JSON of `POST /v2/charge` for qris, gopay, bank_transfer, echannel or cstore."""
    if request.payment_type not in CHARGE_TYPES:
        raise ValueError(
            f"payment_type {request.payment_type!r} is not one of {', '.join(sorted(CHARGE_TYPES))}"
        )
    body = {
        "payment_type": request.payment_type,
        **_common(request.order_id, request.gross_amount, request.items, request.customer),
    }
    if request.expiry_seconds is not None:
        body["custom_expiry"] = {
            "expiry_duration": _positive(request.expiry_seconds, "expiry_seconds"),
            "unit": "second",
        }
        if request.expiry_start is not None:
            body["custom_expiry"]["order_time"] = wib_time(request.expiry_start)
    if request.payment_type == "bank_transfer":
        if not request.bank:
            raise ValueError("bank_transfer needs a bank")
        body["bank_transfer"] = {"bank": request.bank}
    elif request.payment_type == "cstore":
        if not request.store:
            raise ValueError("cstore needs a store")
        body["cstore"] = {"store": request.store, "message": CSTORE_MESSAGE}
    elif request.payment_type == "echannel":
        body["echannel"] = dict(ECHANNEL_BILL_INFO)
    return body


def snap_body(request: SnapRequest) -> dict[str, Any]:
    """The JSON of `POST /snap/v1/transactions`. Snap counts expiry in whole minutes: rounded
    down (at least one), so the payment page never outlives the order it pays for."""
    body = _common(request.order_id, request.gross_amount, request.items, request.customer)
    if request.expiry_seconds is not None:
        seconds = _positive(request.expiry_seconds, "expiry_seconds")
        body["expiry"] = {"duration": max(1, seconds // 60), "unit": "minute"}
        if request.expiry_start is not None:
            body["expiry"]["start_time"] = wib_time(request.expiry_start)
    if request.finish_url:
        body["callbacks"] = {"finish": request.finish_url}
    return body
