"""The order lifecycle as data: the statuses and their groups, and one literal grid of
(status, event) -> status.

Events come from the gateway (an adapter maps its own statuses to the neutral
`bayar.gateways.base.GatewayEvent`, whose values are these) or from us (fulfil). A cell that is
IGNORED is a known late or stale event: it is recorded in the order's history and changes nothing.
A cell that is BUG is not in the table: applying it raises. The README shows the grid as rendered
by `markdown_table` (a test keeps the copy equal).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Status(StrEnum):
    PENDING = "pending"
    REVIEW = "review"  # card payment challenged by fraud detection: approve or deny
    PAID = "paid"
    FULFILLED = "fulfilled"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"

    @property
    def is_open(self) -> bool:
        """Waiting for its payment: the gateway may still take money for it."""
        return self in OPEN

    @property
    def is_paid_like(self) -> bool:
        """Its money is with us (some of it, once partially refunded)."""
        return self in PAID_LIKE

    @property
    def is_final(self) -> bool:
        """No event moves it any more."""
        return self in FINAL

    @property
    def holds_stock(self) -> bool:
        """Its units are reserved (open) or taken for good (paid)."""
        return self in HOLDS_STOCK

    @property
    def released_stock(self) -> bool:
        """Closed without the money: its reserved units went back on sale."""
        return self in RELEASED


class Event(StrEnum):
    # from the gateway
    PAYMENT_PENDING = "payment_pending"
    PAYMENT_CHALLENGED = "payment_challenged"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_DENIED = "payment_denied"
    PAYMENT_EXPIRED = "payment_expired"
    PAYMENT_CANCELLED = "payment_cancelled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    # from bayar
    FULFILLED = "fulfilled"


class RefundStatus(StrEnum):
    """A refund row's status (storage.models.Refund)."""

    REQUESTED = "requested"  # written; the gateway not asked yet, or its answer not read yet
    PENDING = "pending"  # the gateway accepted it and will finish it (Xendit's, for a while)
    UNKNOWN = "unknown"  # the gateway's answer was lost: the worker asks
    SUCCEEDED = "succeeded"  # the money went back (through the gateway, or by hand)
    FAILED = "failed"  # the gateway refused it, or failed it later: no money went back
    MANUAL = "manual"  # waiting for a person to give the money back by hand


# Refunds whose money may still go back through the gateway: counted as given (never refunded
# twice), kept out of the manual queue, and asked about by the worker.
UNSETTLED_REFUNDS: Final = frozenset(
    {RefundStatus.REQUESTED, RefundStatus.PENDING, RefundStatus.UNKNOWN}
)

S, E = Status, Event

# The groups (the properties of `Status` above, and the sets SQL filters by).
OPEN: Final = frozenset({S.PENDING, S.REVIEW})
PAID_LIKE: Final = frozenset({S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED})
RELEASED: Final = frozenset({S.FAILED, S.EXPIRED, S.CANCELLED})
FINAL: Final = RELEASED | {S.REFUNDED}
HOLDS_STOCK: Final = OPEN | PAID_LIKE

# The cells of the grid besides a target status.
SAME: Final = "="  # a repeat: applied, nothing changes
IGNORED: Final = "ignored"  # a late or stale event: recorded in the history, not acted on
BUG: Final = "✗"  # not in the table: applying it raises
Cell = Status | str

# One row per status, one column per event in this order.
COLUMNS: Final = (
    E.PAYMENT_PENDING,
    E.PAYMENT_CHALLENGED,
    E.PAYMENT_SUCCEEDED,
    E.PAYMENT_DENIED,
    E.PAYMENT_EXPIRED,
    E.PAYMENT_CANCELLED,
    E.PARTIALLY_REFUNDED,
    E.REFUNDED,
    E.FULFILLED,
)
_, X = IGNORED, BUG
# fmt: off
GRID: Final[dict[Status, tuple[Cell, ...]]] = {
    #                     pending    challenged  succeeded  denied    expired    cancelled    partially_refunded    refunded     fulfilled
    S.PENDING:            (SAME,     S.REVIEW,   S.PAID,    S.FAILED, S.EXPIRED, S.CANCELLED, S.PARTIALLY_REFUNDED, S.REFUNDED,  X),
    S.REVIEW:             (_,        SAME,       S.PAID,    S.FAILED, S.EXPIRED, S.CANCELLED, S.PARTIALLY_REFUNDED, S.REFUNDED,  X),
    # a bank reversal (denied) needs a person; a captured card voided before settlement cancels
    S.PAID:               (_,        _,          SAME,      _,        _,         S.CANCELLED, S.PARTIALLY_REFUNDED, S.REFUNDED,  S.FULFILLED),
    S.FULFILLED:          (_,        _,          _,         _,        _,         _,           S.PARTIALLY_REFUNDED, S.REFUNDED,  SAME),
    S.FAILED:             (_,        _,          _,         SAME,     _,         _,           _,                    _,           _),
    S.EXPIRED:            (_,        _,          _,         _,        SAME,      _,           _,                    _,           _),
    S.CANCELLED:          (_,        _,          _,         _,        _,         SAME,        _,                    _,           _),
    S.PARTIALLY_REFUNDED: (_,        _,          _,         _,        _,         _,           SAME,                 S.REFUNDED,  _),
    S.REFUNDED:           (_,        _,          _,         _,        _,         _,           _,                    SAME,        _),
}
# fmt: on
# (pending and review take a refund too: one seen before its payment, whose settlement
# notification was lost, still tells the truth.)


def _target(status: Status, cell: Cell) -> Status | None:
    if cell == SAME:
        return status
    if cell == IGNORED:
        return None
    return Status(cell)


# The grid as a lookup: (status, event) -> the status after, None for IGNORED; BUG cells absent.
TRANSITIONS: Final[dict[tuple[Status, Event], Status | None]] = {
    (status, event): _target(status, cell)
    for status, row in GRID.items()
    for event, cell in zip(COLUMNS, row, strict=True)
    if cell != BUG
}


def markdown_table() -> str:
    """The grid as the README shows it (kept equal by a test)."""
    lines = [
        "| status \\ event | " + " | ".join(e.value for e in COLUMNS) + " |",
        "| --- |" + " --- |" * len(COLUMNS),
    ]
    for status, row in GRID.items():
        cells = [cell if cell in (SAME, IGNORED, BUG) else Status(cell).value for cell in row]
        lines.append(f"| **{status.value}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
