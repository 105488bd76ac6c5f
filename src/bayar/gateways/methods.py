"""Payment methods in words, once: the shop's order page, the admin and the API's readers say a
method the same way ("BCA Virtual Account", not "bank_transfer"; N_("Credit/debit card"), not the
"snap" that was asked for). The words are the neutral names every gateway's methods map to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bayar.i18n import N_, gettext

# By bank or store first (they say more), then by payment type.
METHOD_LABELS = {
    "snap": N_("Not chosen yet"),
    "qris": "QRIS",
    "gopay": "GoPay",
    "shopeepay": "ShopeePay",
    "dana": "DANA",
    "ovo": "OVO",
    "kredivo": "Kredivo",
    "akulaku": "Akulaku",
    "credit_card": N_("Credit/debit card"),
    "echannel": "Mandiri Bill Payment",
    "bank_transfer": N_("Bank transfer"),
    "bca": "BCA Virtual Account",
    "bni": "BNI Virtual Account",
    "bri": "BRI Virtual Account",
    "permata": "Permata Virtual Account",
    "cstore": N_("Convenience store"),
    "indomaret": "Indomaret",
    "alfamart": "Alfamart",
}


def method_label(
    payment_type: str | None, bank: str | None = None, store: str | None = None
) -> str:
    """The method in words; "—" when nothing is known. (The shop's order.js has the same rule.)"""
    key = bank or store or payment_type or ""
    label = METHOD_LABELS.get(key)
    return gettext(label) if label else key.replace("_", " ").capitalize() or "—"


def method_labels() -> dict[str, str]:
    """METHOD_LABELS in the language of the request (for a page's script)."""
    return {key: gettext(label) for key, label in METHOD_LABELS.items()}


def label_of(payment: Mapping[str, Any] | None) -> str:
    """The method of a payment as a mapping with `payment_type` and, maybe, `bank` or `store`
    (the customer's view of a payment, or a payment's instructions with its type)."""
    if payment is None:
        return "—"
    return method_label(payment.get("payment_type"), payment.get("bank"), payment.get("store"))
