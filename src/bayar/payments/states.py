"""The order lifecycle as data: (status, event) -> status.

Events come from the gateway (an adapter maps its own statuses to the neutral
`bayar.gateways.base.GatewayEvent`, whose values are these) or from us (fulfil). A pair that maps to IGNORED is a known late or stale event: it is recorded
in the order's history and changes nothing. A pair missing from the table is a bug and raises.
"""

from __future__ import annotations

from enum import StrEnum


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


IGNORED = None
S, E = Status, Event

# Statuses no event moves an order out of.
FINAL = frozenset({S.FAILED, S.EXPIRED, S.CANCELLED, S.REFUNDED})

TRANSITIONS: dict[tuple[Status, Event], Status | None] = {
    (S.PENDING, E.PAYMENT_PENDING): S.PENDING,
    (S.PENDING, E.PAYMENT_CHALLENGED): S.REVIEW,
    (S.PENDING, E.PAYMENT_SUCCEEDED): S.PAID,
    (S.PENDING, E.PAYMENT_DENIED): S.FAILED,
    (S.PENDING, E.PAYMENT_EXPIRED): S.EXPIRED,
    (S.PENDING, E.PAYMENT_CANCELLED): S.CANCELLED,
    (S.REVIEW, E.PAYMENT_PENDING): IGNORED,
    (S.REVIEW, E.PAYMENT_CHALLENGED): S.REVIEW,
    (S.REVIEW, E.PAYMENT_SUCCEEDED): S.PAID,
    (S.REVIEW, E.PAYMENT_DENIED): S.FAILED,
    (S.REVIEW, E.PAYMENT_EXPIRED): S.EXPIRED,
    (S.REVIEW, E.PAYMENT_CANCELLED): S.CANCELLED,
    (S.PAID, E.PAYMENT_PENDING): IGNORED,
    (S.PAID, E.PAYMENT_CHALLENGED): IGNORED,
    (S.PAID, E.PAYMENT_SUCCEEDED): S.PAID,
    (
        S.PAID,
        E.PAYMENT_DENIED,
    ): IGNORED,  # a bank reversal needs a person, not an automatic downgrade
    (S.PAID, E.PAYMENT_EXPIRED): IGNORED,
    (S.PAID, E.PAYMENT_CANCELLED): S.CANCELLED,  # a captured card voided before settlement
    (S.PAID, E.PARTIALLY_REFUNDED): S.PARTIALLY_REFUNDED,
    (S.PAID, E.REFUNDED): S.REFUNDED,
    (S.PAID, E.FULFILLED): S.FULFILLED,
    (S.FULFILLED, E.PAYMENT_PENDING): IGNORED,
    (S.FULFILLED, E.PAYMENT_CHALLENGED): IGNORED,
    (S.FULFILLED, E.PAYMENT_SUCCEEDED): IGNORED,
    (S.FULFILLED, E.PAYMENT_DENIED): IGNORED,
    (S.FULFILLED, E.PAYMENT_EXPIRED): IGNORED,
    (S.FULFILLED, E.PAYMENT_CANCELLED): IGNORED,
    (S.FULFILLED, E.PARTIALLY_REFUNDED): S.PARTIALLY_REFUNDED,
    (S.FULFILLED, E.REFUNDED): S.REFUNDED,
    (S.FULFILLED, E.FULFILLED): S.FULFILLED,
    (S.PARTIALLY_REFUNDED, E.PAYMENT_PENDING): IGNORED,
    (S.PARTIALLY_REFUNDED, E.PAYMENT_CHALLENGED): IGNORED,
    (S.PARTIALLY_REFUNDED, E.PAYMENT_SUCCEEDED): IGNORED,
    (S.PARTIALLY_REFUNDED, E.PAYMENT_DENIED): IGNORED,
    (S.PARTIALLY_REFUNDED, E.PAYMENT_EXPIRED): IGNORED,
    (S.PARTIALLY_REFUNDED, E.PAYMENT_CANCELLED): IGNORED,
    (S.PARTIALLY_REFUNDED, E.PARTIALLY_REFUNDED): S.PARTIALLY_REFUNDED,
    (S.PARTIALLY_REFUNDED, E.REFUNDED): S.REFUNDED,
    (S.PARTIALLY_REFUNDED, E.FULFILLED): IGNORED,
}
for _final in FINAL:
    for _event in Event:
        TRANSITIONS.setdefault((_final, _event), IGNORED)
# A refund seen before its payment (the settlement notification was lost) still tells the truth.
for _status in (S.PENDING, S.REVIEW):
    TRANSITIONS[(_status, E.PARTIALLY_REFUNDED)] = S.PARTIALLY_REFUNDED
    TRANSITIONS[(_status, E.REFUNDED)] = S.REFUNDED
TRANSITIONS[(S.EXPIRED, E.PAYMENT_EXPIRED)] = S.EXPIRED
TRANSITIONS[(S.CANCELLED, E.PAYMENT_CANCELLED)] = S.CANCELLED
TRANSITIONS[(S.FAILED, E.PAYMENT_DENIED)] = S.FAILED
TRANSITIONS[(S.REFUNDED, E.REFUNDED)] = S.REFUNDED

# Statuses that hold stock: reserved while pending or in review, taken for good once paid.
HOLDS_STOCK = frozenset({S.PENDING, S.REVIEW, S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED})
# Statuses whose money is with us.
PAID_LIKE = frozenset({S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED})


def markdown_table() -> str:
    """The transition table as the README shows it (kept equal by a test)."""
    events = list(Event)
    lines = [
        "| status \\ event | " + " | ".join(e.value for e in events) + " |",
        "| --- |" + " --- |" * len(events),
    ]
    for status in Status:
        cells = []
        for event in events:
            if (status, event) not in TRANSITIONS:
                cells.append("✗")
                continue
            target = TRANSITIONS[(status, event)]
            cells.append(
                "ignored" if target is None else ("=" if target == status else target.value)
            )
        lines.append(f"| **{status.value}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
