"""Money is integer rupiah: shown the Indonesian way, and typed by people as they write it.
(A gateway's amounts are read by its adapter, e.g. `bayar.gateways.midtrans.wire.parse_amount`.)"""

from __future__ import annotations

import re


class MoneyError(ValueError):
    pass


def display(rupiah: int) -> str:
    """Rp 10.000, the Indonesian way."""
    return "Rp " + f"{rupiah:,}".replace(",", ".")


# Whole rupiah as a person types it: plain digits, or digits grouped by Indonesian thousands dots.
TYPED_AMOUNT = re.compile(
    r"(?:rp\.?\s*)?([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)", re.IGNORECASE | re.ASCII
)
TYPED_DIGITS = 15  # Rp 999 trillion: more is a typo, not an amount


def parse_rupiah_input(text: str) -> int:
    """A whole-rupiah amount typed by a person: "35000", "35.000", "Rp 35.000".

    A dot only ever separates thousands (groups of three digits), so "35.00" and "1.5" are
    refused rather than read as 3500 and 15; so are commas ("1,5"), signs, spaces inside the
    number and empty text. The MoneyError says what to type instead. The caller checks the
    range (a refund's bounds, a price's)."""
    typed = text.strip()
    match = TYPED_AMOUNT.fullmatch(typed)
    if match is None:
        if not typed:
            raise MoneyError("enter an amount in whole rupiah, like 35000 or 35.000")
        raise MoneyError(
            f"{typed[:40]!r} is not an amount in whole rupiah: write 35000 or 35.000 "
            "(a dot separates thousands; no cents, commas or signs)"
        )
    digits = match.group(1).replace(".", "")
    if len(digits.lstrip("0")) > TYPED_DIGITS:
        raise MoneyError(f"{typed[:40]!r} is too large an amount")
    return int(digits)
