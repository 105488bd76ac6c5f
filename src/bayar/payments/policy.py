"""The settings of the payments core's use cases: how much an order may hold and for how long
(`OrderLimits`), and when the worker asks the gateway again (`ReconcilePolicy`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class OrderLimits:
    """How much one order may hold, and for how long (BAYAR_HOLD_MINUTES,
    BAYAR_MAX_UNITS_PER_ORDER)."""

    hold: timedelta = timedelta(minutes=60)
    max_units: int = 20


@dataclass
class ReconcilePolicy:
    first_check: timedelta = timedelta(seconds=10)
    # An order the gateway does not know is expired here only this long after its deadline.
    expiry_grace: timedelta = timedelta(minutes=2)
    # A refund with no known outcome is asked about once it is this old (it may be in flight).
    refund_grace: timedelta = timedelta(minutes=2)
    # A notification being confirmed is looked at by the worker by then, should this process die.
    confirm_deadline: timedelta = timedelta(seconds=30)
    # A "creating" payment untouched this long belongs to a process that died mid-call.
    create_lease: timedelta = timedelta(minutes=2)
    backoff: tuple[timedelta, ...] = field(
        default_factory=lambda: tuple(timedelta(seconds=s) for s in (15, 30, 60, 120, 300, 600))
    )

    def next_delay(self, attempts: int) -> timedelta:
        return self.backoff[min(attempts, len(self.backoff) - 1)]
