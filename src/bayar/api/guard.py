"""Declared bounds of bodies the API reads itself rather than through a model (the webhook)."""

from __future__ import annotations

import json

from fastapi import HTTPException, Request

from bayar.gateways.midtrans.wire import NOTIFICATION_LIMITS


async def bounded_notification(request: Request) -> None:
    """Refuse (422) a notification whose stored fields are longer than their columns; anything
    else, malformed bodies included, is the inbox's to answer. The body was checked for size,
    depth and NUL by bayar.inputs before this runs."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    if not isinstance(body, dict):
        return
    for name, limit in NOTIFICATION_LIMITS.items():
        value = body.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise HTTPException(422, f"{name}: at most {limit} characters")
