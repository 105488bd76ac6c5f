"""Payment methods, once: the ones a checkout may ask for (the API's allowed values come from
here), and the same methods in words, so the shop's order page, the admin and the API's readers
say a method the same way ("BCA Virtual Account", not "bank_transfer"; "Credit/debit card", not
the "snap" that was asked for). The names are the neutral ones every gateway's methods map to."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class PaymentType(StrEnum):
    """How a checkout asks to pay: a hosted payment page where the customer picks (`snap`), or
    one method charged directly."""

    SNAP = "snap"
    QRIS = "qris"
    GOPAY = "gopay"
    BANK_TRANSFER = "bank_transfer"
    ECHANNEL = "echannel"
    CSTORE = "cstore"


class Bank(StrEnum):
    """The banks of a `bank_transfer` (a virtual account)."""

    BCA = "bca"
    BNI = "bni"
    BRI = "bri"
    PERMATA = "permata"


class Store(StrEnum):
    """The convenience stores of a `cstore` payment."""

    INDOMARET = "indomaret"
    ALFAMART = "alfamart"


# Charged directly, with no payment page: everything but snap.
CHARGE_TYPES = frozenset(PaymentType) - {PaymentType.SNAP}
# A kiosk shows a QR code on its screen, paid on the spot.
KIOSK_TYPES = frozenset({PaymentType.QRIS, PaymentType.GOPAY})

# By bank or store first (they say more), then by payment type.
METHOD_LABELS = {
    "snap": "Not chosen yet",
    "qris": "QRIS",
    "gopay": "GoPay",
    "shopeepay": "ShopeePay",
    "dana": "DANA",
    "ovo": "OVO",
    "kredivo": "Kredivo",
    "akulaku": "Akulaku",
    "credit_card": "Credit/debit card",
    "echannel": "Mandiri Bill Payment",
    "bank_transfer": "Bank transfer",
    "bca": "BCA Virtual Account",
    "bni": "BNI Virtual Account",
    "bri": "BRI Virtual Account",
    "permata": "Permata Virtual Account",
    "cstore": "Convenience store",
    "indomaret": "Indomaret",
    "alfamart": "Alfamart",
}


def method_label(
    payment_type: str | None, bank: str | None = None, store: str | None = None
) -> str:
    """The method in words; "—" when nothing is known. (The shop's order.js has the same rule.)"""
    key = bank or store or payment_type or ""
    return METHOD_LABELS.get(key, key.replace("_", " ").capitalize() or "—")


def label_of(payment: Mapping[str, Any] | None) -> str:
    """The method of a payment as a mapping with `payment_type` and, maybe, `bank` or `store`
    (the customer's view of a payment, or a payment's instructions with its type)."""
    if payment is None:
        return "—"
    return method_label(payment.get("payment_type"), payment.get("bank"), payment.get("store"))
