"""What each payment type adds to a charge: its request checks, its fields, its answer's wording."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from bayar.sandbox import qris

PENDING_MESSAGES = {
    "qris": "QRIS transaction is created",
    "gopay": "GO-PAY billing created",
    "bank_transfer": "Success, Bank Transfer transaction is created",
    "permata": "Success, PERMATA VA transaction is successful",
    "echannel": "OK, Mandiri Bill transaction is successful",
    "cstore": "Success, cstore transaction is successful",
    "credit_card": "Success, Credit Card transaction is successful",
}
# Default payment windows (reference 3.2): e-wallets 15 minutes, the rest 24 hours.
DEFAULT_EXPIRY = {"qris": 15 * 60, "gopay": 15 * 60}
DAY = 24 * 3600
VA_BANKS = ("bca", "bni", "bri", "permata")
VA_MAX_LENGTH = {"bca": 11, "bni": 8, "bri": 13, "permata": 10}
STORES = ("indomaret", "alfamart")
SUPPORTED = ("qris", "gopay", "bank_transfer", "echannel", "cstore", "credit_card")


@dataclass
class MethodSetup:
    details: dict[str, Any]
    message: str
    fraud_status: str | None = "accept"


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def default_expiry(payment_type: str) -> int:
    return DEFAULT_EXPIRY.get(payment_type, DAY)


def setup(
    payment_type: str,
    body: dict[str, Any],
    *,
    transaction_id: str,
    order_id: str,
    gross: int,
    merchant: qris.QrisMerchant,
    errors: list[str],
) -> MethodSetup:
    """Fields of a new pending charge for the non-card types; validation problems go to `errors`."""
    if payment_type in ("qris", "gopay"):
        options = body.get(payment_type) or {}
        acquirer = "gopay"
        if payment_type == "qris":
            acquirer = str(options.get("acquirer") or "gopay").lower()
            if acquirer not in ("gopay", "airpay shopee"):
                errors.append("qris.acquirer must be one of gopay, airpay shopee")
        payload = qris.build_payload(
            amount=gross,
            reference=transaction_id.replace("-", "")[:25],
            bill_number=order_id,
            acquirer=acquirer,
            merchant=merchant,
        )
        details: dict[str, Any] = {"qr_string": payload}
        if payment_type == "qris":
            details["acquirer"] = acquirer
        return MethodSetup(details, PENDING_MESSAGES[payment_type])
    if payment_type == "bank_transfer":
        options = body.get("bank_transfer") or {}
        bank = str(options.get("bank") or "permata").lower()
        if bank not in VA_BANKS:
            errors.append("bank_transfer.bank must be one of bca, bni, bri, permata")
            return MethodSetup({}, "")
        custom = options.get("va_number")
        if custom is not None and (
            not str(custom).isdigit() or len(str(custom)) > VA_MAX_LENGTH[bank]
        ):
            errors.append(
                f"bank_transfer.va_number must be digits, at most {VA_MAX_LENGTH[bank]} for {bank}"
            )
        number = _va_number(bank, str(custom) if custom is not None else None)
        if bank == "permata":
            return MethodSetup({"permata_va_number": number}, PENDING_MESSAGES["permata"])
        return MethodSetup(
            {"va_numbers": [{"bank": bank, "va_number": number}], "payment_amounts": []},
            PENDING_MESSAGES["bank_transfer"],
        )
    if payment_type == "echannel":
        options = body.get("echannel")
        if not isinstance(options, dict):
            errors.append("echannel.bill_info1 is required")
            errors.append("echannel.bill_info2 is required")
            return MethodSetup({}, "")
        for key in ("bill_info1", "bill_info2"):
            if not options.get(key):
                errors.append(f"echannel.{key} is required")
        return MethodSetup(
            {"bill_key": _digits(12), "biller_code": "70012"}, PENDING_MESSAGES["echannel"]
        )
    if payment_type == "cstore":
        options = body.get("cstore") or {}
        store = str(options.get("store") or "").lower()
        if store not in STORES:
            errors.append("cstore.store must be one of indomaret, alfamart")
            return MethodSetup({}, "")
        code = _digits(18) if store == "indomaret" else "ALF" + _digits(13)
        # Indomaret answers carry no fraud_status (reference 3.2).
        fraud = None if store == "indomaret" else "accept"
        return MethodSetup(
            {"store": store, "payment_code": code}, PENDING_MESSAGES["cstore"], fraud
        )
    raise ValueError(payment_type)


def _va_number(bank: str, custom: str | None) -> str:
    prefix = {"bca": "12345", "bni": "8578", "bri": "23456", "permata": "8778"}[bank]
    if custom:
        return prefix + custom if bank in ("bca", "bni") else custom
    return prefix + _digits(15 - len(prefix))


def settlement_details(
    payment_type: str, details: dict[str, Any], paid_at: str, gross: str
) -> None:
    """Fields Midtrans adds once a pending payment settles."""
    if payment_type == "qris":
        details["issuer"] = details.get("acquirer", "gopay")
        details["transaction_type"] = "on-us"
    elif payment_type == "gopay":
        details["payment_option_type"] = "GOPAY_WALLET"
    elif payment_type == "bank_transfer" and "va_numbers" in details:
        details["payment_amounts"] = [{"paid_at": paid_at, "amount": gross}]
    elif payment_type == "cstore":
        details["approval_code"] = "SBX" + _digits(9)


def actions(
    payment_type: str, transaction_id: str, api_base: str, simulator_base: str
) -> list[dict[str, Any]]:
    """The `actions` of a QRIS or GoPay charge, pointing at the sandbox's own URLs."""
    if payment_type == "qris":
        return [
            {
                "name": "generate-qr-code",
                "method": "GET",
                "url": f"{api_base}/v2/qris/{transaction_id}/qr-code",
            }
        ]
    return [
        {
            "name": "generate-qr-code",
            "method": "GET",
            "url": f"{api_base}/v2/gopay/{transaction_id}/qr-code",
        },
        {
            "name": "deeplink-redirect",
            "method": "GET",
            "url": f"{simulator_base}/gopay/checkout?referenceid={transaction_id}",
        },
        {"name": "get-status", "method": "GET", "url": f"{api_base}/v2/{transaction_id}/status"},
        {
            "name": "cancel",
            "method": "POST",
            "url": f"{api_base}/v2/{transaction_id}/cancel",
            "fields": [],
        },
    ]


def new_transaction_id() -> str:
    return str(uuid.uuid4())
