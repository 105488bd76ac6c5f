"""What the Xendit emulator's parts share: the state, the clock, the callback queue, and how a
request's numbers, times and idempotency keys are read."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.qris import QrisMerchant
from bayar.sandbox.store import SandboxStore
from bayar.sandbox.xendit.errors import XenditError

LIST_LIMIT_MAX = 100

# product ("invoice", "payment_request", "refund"), object id, reference, status, body
Notify = Callable[[str, str, str, str, dict[str, Any]], None]


def number(value: Any) -> float | None:
    """A JSON number (the SDK sends 50000.0 for 50000); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    found = float(value)
    return found if math.isfinite(found) else None  # JSON's NaN and Infinity are not amounts


def parse_time(value: str) -> float | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_amount(value: Any, name: str, errors: list[str]) -> int | None:
    """A whole-rupiah amount of at least 1 (IDR decimals are truncated: 4550.50 -> 4550)."""
    found = number(value)
    if value is None:
        errors.append(f'"{name}" is required')
    elif found is None:
        errors.append(f'"{name}" must be a number')
    elif int(found) < 1:
        errors.append(f'"{name}" must be greater than or equal to 1')
    else:
        return int(found)
    return None


class XenditBase:
    def __init__(
        self,
        store: SandboxStore,
        clock: SandboxClock,
        *,
        merchant_id: str,
        notify: Notify,
        wake: Callable[[], None] = lambda: None,
        notify_expired_invoices: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.merchant_id = merchant_id
        self._notify = notify
        self._wake = wake  # a new object has a deadline (expiry, refund) the timer must know
        self._notify_expired = notify_expired_invoices
        self._merchant = QrisMerchant()


def fail(error: XenditError) -> Any:
    """Raise `error` where an expression is expected (`found or fail(not_found())`)."""
    raise error
