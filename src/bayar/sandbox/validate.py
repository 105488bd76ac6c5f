"""Request validation with Midtrans' field names and messages."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# order_id (reference 3.1): at most 50 characters; letters, digits and the documented - _ ~ .,
# plus the space and colon that Midtrans accepts too: the official SDKs' own tests and Midtrans'
# examples build ids such as "py-midtransclient-test-2026-12-06 11:30:00" and get a token. Anything
# else (# / ? % & + and the like break the status URL the SDKs build, reference 4.1) is a 400.
ORDER_ID = re.compile(r"^[A-Za-z0-9\-_~. :]+$")
ORDER_ID_MAX = 50
EXPIRY_UNITS = {
    "second": 1,
    "seconds": 1,
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}


def amount(value: Any) -> int | None:
    """An integer rupiah amount from a JSON number or numeric string, or None if it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not parsed.is_finite() or parsed != parsed.to_integral_value():
        return None
    return int(parsed)


def transaction_details(body: dict[str, Any], errors: list[str]) -> tuple[str, int]:
    details = body.get("transaction_details")
    if not isinstance(details, dict):
        errors.extend(
            [
                "transaction_details is required",
                "transaction_details.order_id is required",
                "transaction_details.gross_amount is required",
            ]
        )
        return "", 0
    order_id = details.get("order_id")
    if order_id is None or order_id == "":
        errors.append("transaction_details.order_id is required")
        order_id = ""
    elif not isinstance(order_id, str | int):
        errors.append("transaction_details.order_id must be a string")
        order_id = ""
    else:
        order_id = str(order_id)
        if len(order_id) > ORDER_ID_MAX:
            errors.append(
                f"transaction_details.order_id too long, maximum is {ORDER_ID_MAX} characters"
            )
        elif not ORDER_ID.match(order_id):
            errors.append(
                "transaction_details.order_id may only contain letters, digits, spaces "
                "and - _ ~ . :"
            )
    raw = details.get("gross_amount")
    gross = amount(raw)
    if raw is None:
        errors.append("transaction_details.gross_amount is required")
    elif gross is None:
        errors.append("transaction_details.gross_amount must be a whole number of rupiah")
    elif gross < 1:
        errors.append("transaction_details.gross_amount must be greater than or equal to 0.01")
    return order_id, gross or 0


def item_details(body: dict[str, Any], gross: int, errors: list[str]) -> list[dict[str, Any]]:
    items = body.get("item_details")
    if items is None or items == []:  # an empty list is as if absent (Snap, Core)
        return []
    if not isinstance(items, list):
        errors.append("item_details must be an array")
        return []
    total = 0
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(f"item_details[{i}] must be an object")
            continue
        price, quantity = amount(item.get("price")), amount(item.get("quantity"))
        if price is None:
            errors.append(f"item_details[{i}].price is required and must be a whole number")
        if quantity is None or quantity < 1:
            errors.append(f"item_details[{i}].quantity must be a positive whole number")
        if not item.get("name"):
            errors.append(f"item_details[{i}].name is required")
        if price is not None and quantity is not None:
            total += price * quantity
    if not errors and gross and total != gross:
        errors.append("transaction_details.gross_amount is not equal to the sum of item_details")
    return items


def expiry_seconds(spec: Any, duration_key: str, errors: list[str], field: str) -> int | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        errors.append(f"{field} must be an object")
        return None
    duration = amount(spec.get(duration_key))
    unit = EXPIRY_UNITS.get(str(spec.get("unit", "")).lower())
    if duration is None or duration < 1:
        errors.append(f"{field}.{duration_key} must be a positive whole number")
        return None
    if unit is None:
        errors.append(f"{field}.unit must be one of second, minute, hour, day")
        return None
    return duration * unit
