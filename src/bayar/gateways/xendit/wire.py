"""Xendit's JSON: request bodies built from our requests, invoices, payment requests, refunds and
callbacks read into ours (reference xendit.md §4, §5).

Xendit's words stay here: invoice statuses (PENDING, PAID, SETTLED, EXPIRED), payment request
statuses (SUCCEEDED, FAILED, ...), its payment channels and error codes become neutral
`GatewayEvent`s, payment types and `Rejection`s. Amounts are whole rupiah (Xendit may write them as
`50000.0`); a fraction of a rupiah is an error. Anything unreadable raises ValueError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

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
from bayar.gateways.methods import PaymentType

CURRENCY = "IDR"
INVOICE_EVENTS = {
    "PENDING": GatewayEvent.PENDING,
    "PAID": GatewayEvent.SUCCEEDED,
    "SETTLED": GatewayEvent.SUCCEEDED,
    "EXPIRED": GatewayEvent.EXPIRED,
}
REQUEST_EVENTS = {
    "PENDING": GatewayEvent.PENDING,
    "REQUIRES_ACTION": GatewayEvent.PENDING,
    "SUCCEEDED": GatewayEvent.SUCCEEDED,
    "FAILED": GatewayEvent.DENIED,
    "EXPIRED": GatewayEvent.EXPIRED,
    "CANCELED": GatewayEvent.CANCELLED,
    "VOIDED": GatewayEvent.CANCELLED,
}
PAID = frozenset({"PAID", "SETTLED", "SUCCEEDED"})
# A refund is PENDING until Xendit finishes it (and calls back): only a SUCCEEDED one gave money
# back. A status not listed here is read as still pending (the worker asks again later).
REFUND_STATES = {
    "PENDING": RefundState.PENDING,
    "SUCCEEDED": RefundState.SUCCEEDED,
    "FAILED": RefundState.FAILED,
    "CANCELLED": RefundState.FAILED,
}
REFUND_REASON = "REQUESTED_BY_CUSTOMER"
# Neutral payment types of what Xendit can refund through its API: e-wallets and QRIS (not
# virtual accounts nor retail outlets, which need a person).
REFUNDABLE_TYPES = frozenset({"qris", "ovo", "dana", "shopeepay", "linkaja"})
# A bank or store channel of an invoice, in the neutral words of `bayar.gateways.methods`.
BANKS = {"BCA": "bca", "BNI": "bni", "BRI": "bri", "PERMATA": "permata", "MANDIRI": "mandiri"}
STORES = {"ALFAMART": "alfamart", "INDOMARET": "indomaret"}
REJECTIONS = {
    "API_VALIDATION_ERROR": Rejection.INVALID,
    "INVALID_API_KEY": Rejection.UNAUTHORIZED,
    "ACCESS_SUSPENDED": Rejection.UNAUTHORIZED,
    "UNAUTHORIZED": Rejection.UNAUTHORIZED,
    "INVOICE_NOT_FOUND_ERROR": Rejection.NOT_FOUND,
    "DATA_NOT_FOUND": Rejection.NOT_FOUND,
    "DUPLICATE_ERROR": Rejection.DUPLICATE,
    "IDEMPOTENCY_ERROR": Rejection.DUPLICATE,
    "INELIGIBLE_TRANSACTION": Rejection.NOT_ALLOWED,
    "INELIGIBLE_TRANSACTION_STATUS": Rejection.NOT_ALLOWED,
    "REFUND_IN_PROGRESS": Rejection.NOT_ALLOWED,
    "REFUND_NOT_SUPPORTED": Rejection.NOT_ALLOWED,
    "PARTIAL_REFUND_NOT_SUPPORTED": Rejection.NOT_ALLOWED,
    "INSUFFICIENT_BALANCE": Rejection.NOT_ALLOWED,
    "REFUND_AMOUNT_EXCEEDED": Rejection.AMOUNT,
    "MAXIMUM_REFUND_AMOUNT_REACHED": Rejection.AMOUNT,
    "MAXIMUM_TRANSFER_AMOUNT_ERROR": Rejection.AMOUNT,
}
ITEM_NAME_MAX = 255


def parse_amount(value: object, field: str = "amount") -> int:
    """Whole rupiah from a JSON number (`50000`, `50000.0`) or its text; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{field} is not a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} is not a number") from None
    if not amount.is_finite() or amount < 0 or amount != amount.to_integral_value():
        raise ValueError(f"{field} is not a whole number of rupiah")
    return int(amount)


def parse_time(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} is not a time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{field} has no time zone")
    return moment


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} is missing")
    return value


def _optional_text(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    return value if isinstance(value, str) and value else None


# -- requests ----------------------------------------------------------------------------------


def _items(items: tuple[LineItem, ...]) -> list[dict[str, Any]]:
    return [
        {
            "reference_id": i.id,
            "name": i.name[:ITEM_NAME_MAX],
            "price": i.price,
            "quantity": i.quantity,
        }
        for i in items
    ]


def _customer(customer: Customer) -> dict[str, str]:
    fields = {
        "given_names": customer.first_name,
        "surname": customer.last_name,
        "email": customer.email,
        "mobile_number": customer.phone,
    }
    return {k: v for k, v in fields.items() if v}


def back_url(finish_url: str, order_id: str) -> str:
    """Where Xendit's hosted page sends the customer back: the order page (as Snap's finish)."""
    joiner = "&" if "?" in finish_url else "?"
    return f"{finish_url}{joiner}{urlencode({'order_id': order_id})}"


def invoice_body(request: SnapRequest) -> dict[str, Any]:
    """`POST /v2/invoices`: the hosted page where the customer picks a method (Snap's place)."""
    body: dict[str, Any] = {
        "external_id": request.order_id,
        "amount": request.gross_amount,
        "currency": CURRENCY,
        "description": f"Order {request.order_id}",
        "items": _items(request.items),
        "should_send_email": False,
        "metadata": {"order_id": request.order_id},
    }
    if request.expiry_seconds is not None:
        if request.expiry_seconds < 1:
            raise ValueError("expiry_seconds must be positive")
        body["invoice_duration"] = request.expiry_seconds
    if request.customer is not None:
        customer = _customer(request.customer)
        if customer:
            body["customer"] = customer
        if request.customer.email:
            body["payer_email"] = request.customer.email
    if request.finish_url:
        back = back_url(request.finish_url, request.order_id)
        body["success_redirect_url"] = back
        body["failure_redirect_url"] = back
    return body


def qr_body(request: ChargeRequest, now: datetime) -> dict[str, Any]:
    """`POST /payment_requests` with a QRIS QR code (the kiosk's screen). The QR expires when
    the order does, counted from when the payment window opened."""
    if request.payment_type != PaymentType.QRIS:
        raise ValueError(f"Xendit charges qris only directly, not {request.payment_type}")
    qr: dict[str, Any] = {"channel_code": "QRIS"}
    if request.expiry_seconds is not None:
        start = request.expiry_start or now
        expires = start + timedelta(seconds=request.expiry_seconds)
        qr["channel_properties"] = {"expires_at": iso(expires)}
    return {
        "reference_id": request.order_id,
        "amount": request.gross_amount,
        "currency": CURRENCY,
        "description": f"Order {request.order_id}",
        "payment_method": {"type": "QR_CODE", "reusability": "ONE_TIME_USE", "qr_code": qr},
        "metadata": {"order_id": request.order_id},
    }


def refund_body(
    kind: str, object_id: str, order_id: str, *, amount: int | None, refund_key: str, reason: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "invoice_id" if kind == "invoice" else "payment_request_id": object_id,
        "reference_id": refund_key,
        "currency": CURRENCY,
        "reason": REFUND_REASON,
        "metadata": {"order_id": order_id, "reason": reason[:200]},
    }
    if amount is not None:
        body["amount"] = amount
    return body


# -- answers ---------------------------------------------------------------------------------


def refund_of(refund: Mapping[str, Any]) -> GatewayRefund:
    """A refund object (a list's entry, a refund answer, a callback's data) in neutral words,
    under our key (its reference_id)."""
    status = str(refund.get("status") or "").upper()
    return GatewayRefund(
        refund_key=_optional_text(refund, "reference_id") or _text(refund, "id"),
        amount=parse_amount(refund.get("amount")),
        state=REFUND_STATES.get(status, RefundState.PENDING),
    )


def _refunds(refunds: Sequence[Mapping[str, Any]]) -> tuple[GatewayRefund, ...]:
    return tuple(refund_of(refund) for refund in refunds)


def _with_refunds(
    event: GatewayEvent | None, amount: int, refunds: tuple[GatewayRefund, ...]
) -> GatewayEvent | None:
    refunded = sum(r.amount for r in refunds if r.state is RefundState.SUCCEEDED)
    if event is not GatewayEvent.SUCCEEDED or refunded <= 0:
        return event
    return GatewayEvent.REFUNDED if refunded >= amount else GatewayEvent.PARTIALLY_REFUNDED


def invoice_method(body: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(neutral payment type, what the customer paid with) of an invoice: `snap` until paid."""
    kind = _optional_text(body, "payment_method")
    channel = (_optional_text(body, "payment_channel") or "").upper()
    destination = _optional_text(body, "payment_destination")
    if kind in ("BANK_TRANSFER", "CALLBACK_VIRTUAL_ACCOUNT", "POOL") or channel in BANKS:
        details = {"bank": BANKS.get(channel, channel.lower())}
        if destination:
            details["va_number"] = destination
        return PaymentType.BANK_TRANSFER.value, details
    if kind == "RETAIL_OUTLET" or channel in STORES:
        details = {"store": STORES.get(channel, channel.lower())}
        if destination:
            details["payment_code"] = destination
        return PaymentType.CSTORE.value, details
    if kind == "EWALLET" and channel:
        return channel.lower(), {}
    if kind in ("QR_CODE", "QRIS") or channel == "QRIS":
        return PaymentType.QRIS.value, {}
    if kind == "CREDIT_CARD":
        return "credit_card", {}
    return PaymentType.SNAP.value, {}


def parse_invoice(
    body: Mapping[str, Any], refunds: Sequence[Mapping[str, Any]] = ()
) -> GatewayReport:
    status = _text(body, "status").upper()
    amount = parse_amount(body.get("amount"))
    counted = _refunds(refunds)
    payment_type, details = invoice_method(body)
    return GatewayReport(
        order_id=_text(body, "external_id"),
        transaction_id=_text(body, "id"),
        event=_with_refunds(INVOICE_EVENTS.get(status), amount, counted),
        gateway_status=status,
        gross_amount=amount,
        currency=_optional_text(body, "currency") or CURRENCY,
        payment_type=payment_type,
        settled_at=parse_time(body.get("paid_at"), "paid_at"),
        expires_at=parse_time(body.get("expiry_date"), "expiry_date"),
        refunds=counted,
        payment_details=details,
        raw=dict(body),
    )


def _qr(body: Mapping[str, Any]) -> Mapping[str, Any]:
    method = body.get("payment_method")
    qr = method.get("qr_code") if isinstance(method, Mapping) else None
    properties = qr.get("channel_properties") if isinstance(qr, Mapping) else None
    return properties if isinstance(properties, Mapping) else {}


def parse_payment_request(
    body: Mapping[str, Any], refunds: Sequence[Mapping[str, Any]] = ()
) -> GatewayReport:
    status = _text(body, "status").upper()
    amount = parse_amount(body.get("amount"))
    counted = _refunds(refunds)
    return GatewayReport(
        order_id=_text(body, "reference_id"),
        transaction_id=_optional_text(body, "payment_request_id") or _text(body, "id"),
        event=_with_refunds(REQUEST_EVENTS.get(status), amount, counted),
        gateway_status=status,
        gross_amount=amount,
        currency=_optional_text(body, "currency") or CURRENCY,
        payment_type=PaymentType.QRIS.value,
        settled_at=parse_time(body.get("updated"), "updated") if status in PAID else None,
        expires_at=parse_time(_qr(body).get("expires_at"), "expires_at"),
        refunds=counted,
        raw=dict(body),
    )


def invoice_instructions(body: Mapping[str, Any]) -> PaymentInstructions:
    url = _text(body, "invoice_url")
    return PaymentInstructions(
        payment_type=PaymentType.SNAP.value,
        transaction_id=_text(body, "id"),
        gateway_status=_text(body, "status").upper(),
        redirect_url=url,
        invoice_url=url,
        expiry_time=parse_time(body.get("expiry_date"), "expiry_date"),
    )


def qr_instructions(body: Mapping[str, Any]) -> PaymentInstructions:
    properties = _qr(body)
    qr_string = properties.get("qr_string")
    if not isinstance(qr_string, str) or not qr_string:
        raise ValueError("the payment request carries no qr_string")
    return PaymentInstructions(
        payment_type=PaymentType.QRIS.value,
        transaction_id=_text(body, "id"),
        gateway_status=_text(body, "status").upper(),
        qr_string=qr_string,
        expiry_time=parse_time(properties.get("expires_at"), "expires_at"),
    )


def error_of(body: object, http_status: int) -> tuple[str, str]:
    """(error_code, message) of an error answer, whatever its shape."""
    if isinstance(body, Mapping):
        code = body.get("error_code") or body.get("errorCode") or body.get("error")
        message = body.get("message") or body.get("error_message")
        if isinstance(code, str) and code:
            return code[:64], str(message or code)[:300]
    return f"HTTP_{http_status}", f"HTTP {http_status}"


def rejection_of(code: str, http_status: int) -> Rejection:
    if code in REJECTIONS:
        return REJECTIONS[code]
    if http_status == 404:
        return Rejection.NOT_FOUND
    if http_status in (401, 403):
        return Rejection.UNAUTHORIZED
    if http_status == 409:
        return Rejection.DUPLICATE
    if http_status == 400:
        return Rejection.INVALID
    return Rejection.OTHER


# -- callbacks ---------------------------------------------------------------------------------


def callback_kind(body: Mapping[str, Any]) -> str:
    """`invoice` (a flat invoice body), `payment` (payment.* / payment_request.*), `refund`."""
    event = body.get("event")
    if isinstance(event, str):
        if event.startswith("refund."):
            return "refund"
        if event.startswith(("payment.", "payment_request.")):
            return "payment"
        return "other"
    return "invoice"


def _data(body: Mapping[str, Any]) -> Mapping[str, Any]:
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise ValueError("data is missing")
    return data


def callback_labels(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(order id, status word) of any callback body, read or not."""
    kind = callback_kind(body)
    if kind == "invoice":
        return _optional_text(body, "external_id"), _optional_text(body, "status")
    data = body.get("data")
    if not isinstance(data, Mapping):
        return None, None
    if kind == "refund":
        metadata = data.get("metadata")
        order = metadata.get("order_id") if isinstance(metadata, Mapping) else None
        status = _optional_text(data, "status")
        return (order if isinstance(order, str) else None), (
            None if status is None else f"REFUND_{status}"
        )
    return _optional_text(data, "reference_id"), _optional_text(data, "status")


def parse_callback(body: Mapping[str, Any]) -> GatewayReport:
    """A callback as a report. A refund's callback says nothing of the order's state by itself:
    its report carries no event, only the refund (news the status API confirms, with every
    refund and the order's state)."""
    kind = callback_kind(body)
    if kind == "invoice":
        return parse_invoice(body)
    if kind == "payment":
        return parse_payment_request(_data(body))
    if kind == "refund":
        data = _data(body)
        order_id, status = callback_labels(body)
        if order_id is None or status is None:
            raise ValueError("the refund callback names no order")
        return GatewayReport(
            order_id=order_id,
            transaction_id=_text(data, "id"),
            event=None,
            gateway_status=status,
            gross_amount=parse_amount(data.get("amount")),
            currency=_optional_text(data, "currency") or CURRENCY,
            payment_type=PaymentType.QRIS.value,
            refunds=(refund_of(data),),
            raw=dict(body),
        )
    raise ValueError("not a callback of invoices, payments or refunds")


def callback_identity(body: Mapping[str, Any]) -> str:
    """What makes a callback one fact when it carries no `webhook-id`: the object's id and
    status (an invoice's id, a payment's or refund's `data.id`), with the event."""
    kind = callback_kind(body)
    if kind == "invoice":
        return f"invoice:{body.get('id')}:{body.get('status')}"
    data = body.get("data")
    if isinstance(data, Mapping):
        return f"{body.get('event')}:{data.get('id')}:{data.get('status')}"
    return f"{body.get('event')}:?"
