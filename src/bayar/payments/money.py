"""Money is integer rupiah. Gateway amounts arrive as strings like "10000.00" and are parsed exactly."""

from __future__ import annotations

import re
from decimal import Decimal

AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class MoneyError(ValueError):
    pass


def parse_rupiah(value: object) -> int:
    """A whole-rupiah amount from "10000.00", "10000" or an int; never through a float."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"not an amount: {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise MoneyError(f"not an amount: {value!r}")
    text = value.strip()
    if not AMOUNT.fullmatch(text):  # no sign, exponent or digit separators: no gateway sends them
        raise MoneyError(f"not an amount: {value!r}")
    amount = Decimal(text)
    if amount != amount.to_integral_value():
        raise MoneyError(f"not a whole rupiah amount: {value!r}")
    return int(amount)


def gateway_amount(rupiah: int) -> str:
    """The two-decimal form Midtrans uses in notifications and signatures."""
    return f"{rupiah}.00"


def display(rupiah: int) -> str:
    """Rp 10.000, the Indonesian way."""
    return "Rp " + f"{rupiah:,}".replace(",", ".")
