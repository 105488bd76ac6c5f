"""Building the protocol's frames (PROTOCOL.md)."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

import segno

from bayar.payments.states import Status
from bayar.vending.service import DispenseCommand

# Limits of a frame from a kiosk, checked before any work: a frame is a flat object of scalars.
MAX_FRAME_CHARS = 8 * 1024
MAX_DEPTH = 4
MAX_STRING = 500


class FrameError(ValueError):
    """A frame from a kiosk that is not one: answered with ERROR `invalid`, the socket stays."""


def parse(raw: str) -> tuple[str, dict[str, Any]]:
    """A kiosk frame's event and values, or FrameError: too long, nested too deep (refused
    before the JSON parser recurses into it), not `{"event", "values"}`, or with a string that
    holds NUL or is longer than MAX_STRING."""
    if len(raw) > MAX_FRAME_CHARS:
        raise FrameError(f"a frame is at most {MAX_FRAME_CHARS} characters")
    if _depth(raw) > MAX_DEPTH:
        raise FrameError("a frame is a flat object")
    try:
        message = json.loads(raw)
    except ValueError as error:
        raise FrameError('expected {"event", "values"}') from error
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise FrameError('expected {"event", "values"}')
    values = message.get("values") or {}
    if not isinstance(values, dict):
        raise FrameError("values must be an object")
    _check_strings(message)
    return message["event"], values


def _depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_strings(value: object) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise FrameError("text must not contain NUL characters")
        if len(value) > MAX_STRING:
            raise FrameError(f"a text value is at most {MAX_STRING} characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


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
    if Status(order["status"]).is_open:
        return "payment"
    dispense = order.get("dispense")
    if dispense is not None and dispense["status"] in ("failed", "refund_retry"):
        return "refunding"
    return "dispensing"
