"""Xendit's JSON shapes, built from the reference (xendit.md §4, §5) and its samples: invoices,
payment requests, refunds and their callbacks. Every field the official SDK 7.0.0 requires is
present and non-null; optional ones that have no value are left out rather than sent as null where
the SDK types them as non-nullable."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from bayar.sandbox.xendit.model import Invoice, PaymentRequest, XRefund

MERCHANT_NAME = "BAYAR SANDBOX"
# Xendit's invoice body requires a non-null picture URL; the sandbox serves no such picture.
MERCHANT_PICTURE = "https://du8nwjtfkinx.cloudfront.net/xendit.png"
COUNTRY = "ID"

BANKS = ("BCA", "BNI", "BRI", "MANDIRI", "PERMATA")
RETAIL_OUTLETS = ("ALFAMART", "INDOMARET")
EWALLETS = ("OVO", "DANA", "SHOPEEPAY", "LINKAJA")
QR_CODES = ("QRIS",)
CHANNELS = BANKS + RETAIL_OUTLETS + EWALLETS + QR_CODES
# Payment-method names `payment_methods` may carry that the sandbox accepts but does not offer.
NOT_OFFERED = frozenset({"CREDIT_CARD", "BSI", "BJB", "SAHABAT_SAMPOERNA", "CIMB", "ASTRAPAY"})
_VA_PREFIX = {
    "BCA": "10766",
    "BNI": "880810",
    "BRI": "26215",
    "MANDIRI": "88908",
    "PERMATA": "821456",
}


def iso(ts: float) -> str:
    """A sandbox timestamp as Xendit writes times: UTC, milliseconds, `Z`."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def business_id(merchant_id: str) -> str:
    """A 24-hex id (Xendit's `user_id` / `business_id`) derived from the sandbox merchant."""
    return hashlib.sha256(f"xendit-business:{merchant_id}".encode()).hexdigest()[:24]


def channel_kind(channel: str) -> str:
    """An invoice's `payment_method` for a channel it was paid through."""
    if channel in BANKS:
        return "BANK_TRANSFER"
    if channel in RETAIL_OUTLETS:
        return "RETAIL_OUTLET"
    if channel in EWALLETS:
        return "EWALLET"
    return "QR_CODE"


def va_number(invoice: Invoice, bank: str) -> str:
    digits = int(hashlib.sha256(f"{invoice.id}:{bank}".encode()).hexdigest(), 16)
    prefix = _VA_PREFIX.get(bank, "99999")
    return f"{prefix}{digits % 10 ** (16 - len(prefix)):0{16 - len(prefix)}d}"


def payment_code(invoice: Invoice, outlet: str) -> str:
    digits = int(hashlib.sha256(f"{invoice.id}:{outlet}".encode()).hexdigest(), 16)
    return f"BAYAR{digits % 10**8:08d}"


def destination(invoice: Invoice, channel: str) -> str:
    """Where a payer pays an invoice through a channel: VA number, payment code, QR reference."""
    if channel in BANKS:
        return va_number(invoice, channel)
    if channel in RETAIL_OUTLETS:
        return payment_code(invoice, channel)
    return invoice.id[-12:].upper()


def _present(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def invoice_json(invoice: Invoice, *, merchant_id: str, invoice_url: str) -> dict[str, Any]:
    """The invoice as create / get / list / expire answer it (reference §4.2)."""
    remaining = invoice.amount - invoice.refunded
    body: dict[str, Any] = {
        "id": invoice.id,
        "external_id": invoice.external_id,
        "user_id": business_id(merchant_id),
        "status": invoice.status,
        "merchant_name": MERCHANT_NAME,
        "merchant_profile_picture_url": MERCHANT_PICTURE,
        "amount": invoice.amount,
        "payer_email": invoice.payer_email,
        "description": invoice.description,
        "expiry_date": iso(invoice.expiry_date),
        "invoice_url": invoice_url,
        "available_banks": [
            {
                "bank_code": bank,
                "collection_type": "POOL",
                "bank_account_number": va_number(invoice, bank),
                "transfer_amount": remaining,
                "bank_branch": "Virtual Account",
                "account_holder_name": MERCHANT_NAME,
                "identity_amount": 0,
            }
            for bank in invoice.banks
        ],
        "available_retail_outlets": [
            {
                "retail_outlet_name": outlet,
                "payment_code": payment_code(invoice, outlet),
                "transfer_amount": remaining,
                "merchant_name": MERCHANT_NAME,
            }
            for outlet in invoice.retail_outlets
        ],
        "available_ewallets": [{"ewallet_type": e} for e in invoice.ewallets],
        "available_qr_codes": [{"qr_code_type": q} for q in invoice.qr_codes],
        "available_direct_debits": [],
        "available_paylaters": [],
        "should_exclude_credit_card": True,
        "should_send_email": invoice.should_send_email,
        "success_redirect_url": invoice.success_redirect_url,
        "failure_redirect_url": invoice.failure_redirect_url,
        "created": iso(invoice.created),
        "updated": iso(invoice.updated),
        "currency": invoice.currency,
        "locale": invoice.locale,
        "items": invoice.items,
        "customer": invoice.customer,
        "fees": invoice.fees,
        "metadata": invoice.metadata,
    }
    if invoice.paid_at is not None:
        body.update(_paid_fields(invoice))
    return _present(body)


def _paid_fields(invoice: Invoice) -> dict[str, Any]:
    channel = invoice.payment_channel or ""
    fields: dict[str, Any] = {
        "payment_method": invoice.payment_method,
        "payment_channel": channel,
        "payment_destination": invoice.payment_destination,
        "paid_amount": invoice.amount,
        "paid_at": iso(invoice.paid_at or 0.0),
        "payment_id": invoice.payment_id,
        "adjusted_received_amount": invoice.amount,
        "fees_paid_amount": 0,
    }
    if channel in BANKS:
        fields["bank_code"] = channel
    elif channel in EWALLETS:
        fields["ewallet_type"] = channel
    elif channel in RETAIL_OUTLETS:
        fields["retail_outlet_name"] = channel
    return fields


def invoice_callback(invoice: Invoice, *, merchant_id: str) -> dict[str, Any]:
    """The flat invoice callback (reference §5.2, samples invoice_callback_*)."""
    body: dict[str, Any] = {
        "id": invoice.id,
        "external_id": invoice.external_id,
        "user_id": business_id(merchant_id),
        "is_high": False,
        "status": invoice.status,
        "merchant_name": MERCHANT_NAME,
        "amount": invoice.amount,
        "payer_email": invoice.payer_email,
        "description": invoice.description,
        "created": iso(invoice.created),
        "updated": iso(invoice.updated),
        "currency": invoice.currency,
        "success_redirect_url": invoice.success_redirect_url,
        "failure_redirect_url": invoice.failure_redirect_url,
        "items": invoice.items,
        "metadata": invoice.metadata,
    }
    if invoice.paid_at is not None:
        body.update(_paid_fields(invoice))
    else:
        body["expiry_date"] = iso(invoice.expiry_date)
    return _present(body)


def _payment_method(request: PaymentRequest) -> dict[str, Any]:
    status = {"PENDING": "ACTIVE", "SUCCEEDED": "ACTIVE"}.get(request.status, "EXPIRED")
    if request.status == "FAILED":
        status = "FAILED"
    return {
        "id": request.payment_method_id,
        "type": "QR_CODE",
        "reusability": request.reusability,
        "status": status,
        "reference_id": request.reference_id,
        "description": None,
        "created": iso(request.created),
        "updated": iso(request.updated),
        "card": None,
        "direct_debit": None,
        "ewallet": None,
        "over_the_counter": None,
        "virtual_account": None,
        "qr_code": {
            "amount": request.amount,
            "currency": request.currency,
            "channel_code": request.channel_code,
            "channel_properties": {
                "qr_string": request.qr_string,
                "expires_at": iso(request.expires_at),
            },
        },
        "metadata": None,
    }


def payment_request_json(request: PaymentRequest, *, merchant_id: str) -> dict[str, Any]:
    """A payment request (reference §4.4, sample payment_request_qr_response)."""
    return {
        "id": request.id,
        "business_id": business_id(merchant_id),
        "reference_id": request.reference_id,
        "customer_id": None,
        "currency": request.currency,
        "amount": request.amount,
        "country": COUNTRY,
        "status": request.status,
        "description": request.description,
        "capture_method": "AUTOMATIC",
        "initiator": None,
        "card_verification_results": None,
        "payment_method": _payment_method(request),
        "actions": [],
        "failure_code": request.failure_code,
        "metadata": request.metadata,
        "shipping_information": None,
        "items": None,
        "created": iso(request.created),
        "updated": iso(request.updated),
    }


def payment_callback(
    event: str, request: PaymentRequest, *, merchant_id: str, now: float
) -> dict[str, Any]:
    """`payment.succeeded` / `payment.failed` (the payment) or `payment_request.expiry` (the
    request), in the `{event, business_id, created, data}` envelope."""
    if event == "payment_request.expiry":
        data = payment_request_json(request, merchant_id=merchant_id)
    else:
        data = {
            "id": request.payment_id or request.id,
            "payment_request_id": request.id,
            "reference_id": request.reference_id,
            "customer_id": None,
            "currency": request.currency,
            "amount": request.amount,
            "country": COUNTRY,
            "status": request.status,
            "description": request.description,
            "failure_code": request.failure_code,
            "payment_method": _payment_method(request),
            "channel_properties": None,
            "payment_detail": None,
            "metadata": request.metadata,
            "created": iso(request.created),
            "updated": iso(request.updated),
        }
    return {
        "event": event,
        "business_id": business_id(merchant_id),
        "created": iso(now),
        "data": data,
        "api_version": None,
    }


def refund_json(refund: XRefund) -> dict[str, Any]:
    return _present(
        {
            "id": refund.id,
            "payment_request_id": refund.payment_request_id,
            "invoice_id": refund.invoice_id,
            "payment_id": refund.payment_id,
            "payment_method_type": refund.payment_method_type,
            "channel_code": refund.channel_code,
            "reference_id": refund.reference_id,
            "country": COUNTRY,
            "currency": refund.currency,
            "amount": refund.amount,
            "status": refund.status,
            "reason": refund.reason,
            "failure_code": refund.failure_code,
            "refund_fee_amount": 0,
            "metadata": refund.metadata,
            "created": iso(refund.created),
            "updated": iso(refund.updated),
        }
    )


def refund_callback(refund: XRefund, *, merchant_id: str, now: float) -> dict[str, Any]:
    event = "refund.succeeded" if refund.status == "SUCCEEDED" else "refund.failed"
    data = refund_json(refund)
    for key in ("invoice_id", "reference_id", "failure_code", "metadata"):
        data.setdefault(key, None)
    return {
        "event": event,
        "business_id": business_id(merchant_id),
        "created": iso(now),
        "data": data,
    }
