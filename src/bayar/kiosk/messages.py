"""Building the protocol's frames (PROTOCOL.md)."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

import segno

from bayar.vending.service import DispenseCommand


def frame(event: str, values: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {"event": event, "values": values or {}}, default=_encode, separators=(",", ":")
    )


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


@functools.lru_cache(maxsize=512)  # a reconnect or a fan-out draws the same payload again
def qr_svg(payload: str) -> str:
    """The QRIS payload drawn by bayar (not the gateway's image), as inline SVG."""
    return str(
        segno.make(payload, error="m").svg_inline(scale=8, border=2, dark="#111", light="#fff")
    )


def order_values(view: dict[str, Any], now: datetime) -> dict[str, Any]:
    values = dict(view)
    qr_string = view.get("qr_string")
    values["qr_svg"] = qr_svg(qr_string) if qr_string else None
    expiry: datetime = view["expiry_time"]
    values["seconds_left"] = max(0, int((expiry - now).total_seconds()))
    return values


def dispense_values(command: DispenseCommand) -> dict[str, Any]:
    return {
        "order_id": command.order_id,
        "dispense_id": command.dispense_id,
        "slot": command.slot,
        "product_id": command.product_id,
        "name": command.name,
    }


def screen_of(order: dict[str, Any] | None) -> str:
    if order is None:
        return "home"
    if order["status"] in ("pending", "review"):
        return "payment"
    dispense = order.get("dispense")
    if dispense is not None and dispense["status"] in ("failed", "refund_retry"):
        return "refunding"
    return "dispensing"
