"""Midtrans' JSON shapes: amounts as "N.00", times in GMT+7, status codes, signatures."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

from bayar.sandbox.model import Refund, Transaction

WIB = timezone(timedelta(hours=7))

# Body status_code of GET status (the API call's result, not the payment status).
STATUS_API_CODE = {
    "pending": "201",
    "authorize": "200",
    "capture": "200",
    "settlement": "200",
    "refund": "200",
    "partial_refund": "200",
    "cancel": "200",
    "expire": "407",
    "deny": "202",
    "failure": "202",
}
# Body status_code of HTTP notifications (reference 3.9).
NOTIFICATION_CODE = {
    "pending": "201",
    "authorize": "200",
    "capture": "200",
    "settlement": "200",
    "refund": "200",
    "partial_refund": "200",
    "cancel": "202",
    "expire": "202",
    "deny": "202",
    "failure": "202",
}
CHARGE_ONLY = frozenset({"qr_string", "redirect_url"})


def money(amount: int) -> str:
    return f"{amount}.00"


def wib(ts: float) -> str:
    """ "YYYY-MM-DD HH:MM:SS" in WIB (isoformat: strftime took a tenth of a status call's CPU)."""
    return datetime.fromtimestamp(ts, WIB).isoformat(" ", "seconds")[:19]


def parse_wib(text: str) -> float:
    """ "YYYY-MM-DD HH:MM:SS +0700" (offset optional, GMT+7 assumed) to a timestamp."""
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=WIB)
        return parsed.timestamp()
    raise ValueError(f"not a Midtrans time: {text!r}")


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def _refund_json(refund: Refund) -> dict[str, Any]:
    body: dict[str, Any] = {
        "refund_chargeback_id": refund.refund_chargeback_id,
        "refund_amount": money(refund.refund_amount),
        "created_at": wib(refund.created_at),
        "reason": refund.reason,
        "refund_key": refund.refund_key,
        "refund_method": refund.refund_method,
    }
    if refund.bank_confirmed_at is not None:
        body["bank_confirmed_at"] = wib(refund.bank_confirmed_at)
    return body


def transaction_json(
    txn: Transaction, *, status_code: str, status_message: str, server_key: str, merchant_id: str
) -> dict[str, Any]:
    """The transaction as GET status and notifications show it; absent values are omitted."""
    gross = money(txn.gross_amount)
    body: dict[str, Any] = {
        "status_code": status_code,
        "status_message": status_message,
        "transaction_id": txn.transaction_id,
        "order_id": txn.order_id,
        "merchant_id": merchant_id,
        "gross_amount": gross,
        "currency": txn.currency,
        "payment_type": txn.payment_type,
        "transaction_time": wib(txn.transaction_time),
        "transaction_status": txn.transaction_status,
        "signature_key": signature(txn.order_id, status_code, gross, server_key),
    }
    if txn.fraud_status is not None:
        body["fraud_status"] = txn.fraud_status
    if txn.settlement_time is not None:
        body["settlement_time"] = wib(txn.settlement_time)
    if txn.expiry_time is not None:
        body["expiry_time"] = wib(txn.expiry_time)
    body.update({k: v for k, v in txn.details.items() if k not in CHARGE_ONLY and v is not None})
    body.update(txn.custom_fields)
    if txn.refunds:
        body["refund_amount"] = money(txn.refunded_amount)
        body["refunds"] = [_refund_json(r) for r in txn.refunds]
    return body


def status_json(txn: Transaction, *, server_key: str, merchant_id: str) -> dict[str, Any]:
    return transaction_json(
        txn,
        status_code=STATUS_API_CODE[txn.transaction_status],
        status_message="Success, transaction is found",
        server_key=server_key,
        merchant_id=merchant_id,
    )


def notification_json(txn: Transaction, *, server_key: str, merchant_id: str) -> dict[str, Any]:
    code = NOTIFICATION_CODE[txn.transaction_status]
    if txn.fraud_status == "challenge":
        code = "201"
    return transaction_json(
        txn,
        status_code=code,
        status_message="midtrans payment notification",
        server_key=server_key,
        merchant_id=merchant_id,
    )
