"""Midtrans notification signatures (reference 3.9).

signature_key = SHA512 hex of order_id + status_code + gross_amount + server key, over the exact
strings of the notification ("10000.00", never an amount rebuilt from an integer).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

SIGNED_FIELDS = ("order_id", "status_code", "gross_amount")


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """The lowercase SHA512 hex digest Midtrans puts in `signature_key`."""
    text = f"{order_id}{status_code}{gross_amount}{server_key}"
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def verify(body: Mapping[str, Any], server_key: str) -> bool:
    """True if `body["signature_key"]` signs the body's own order_id, status_code and gross_amount.

    Each of those must be a string as received (a number means someone re-serialised the body, and
    its text is no longer the signed one). The comparison takes constant time.
    """
    if not server_key:
        return False
    values = [body.get(name) for name in SIGNED_FIELDS]
    received = body.get("signature_key")
    if not isinstance(received, str) or not all(isinstance(v, str) for v in values):
        return False
    order_id, status_code, gross_amount = (str(v) for v in values)
    expected = signature(order_id, status_code, gross_amount, server_key)
    return hmac.compare_digest(expected.encode("ascii"), received.encode("utf-8"))
