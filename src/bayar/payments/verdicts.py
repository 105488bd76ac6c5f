"""What a gateway report means for an order, before anything is written: the verdict of the
state table on it, what it changes on the payment row, and what applying it did (`Applied`). Pure
functions over an `Order` or its snapshot; `Transitions` writes what they decide."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bayar.gateways.base import GatewayEvent, GatewayReport
from bayar.payments import machine
from bayar.payments.states import Event, Status

# Gateway events that move money: on a closed order they are kept (and a payment refunded).
MONEY_EVENTS = frozenset({Event.PAYMENT_SUCCEEDED, Event.REFUNDED, Event.PARTIALLY_REFUNDED})
# Payment rows whose create call has not been answered yet (still being made, or lost on the way).
UNANSWERED = ("creating", "unknown")
# The history note of a declined card on a Snap order still open (the customer may pay again).
RETRY_NOTE = "a declined attempt: the customer may pay another way on the Snap page"


def event_of(report: GatewayReport) -> Event | None:
    """The core's event for what a gateway reports (the neutral events are the core's own)."""
    return None if report.event is None else Event(report.event.value)


def without_instructions(status: GatewayReport) -> GatewayReport:
    """A notification as the core may use it: payment instructions (VA number, bill key, payment
    code) are not signed, so they come only from the create answer or the status API."""
    return replace(status, payment_details={}) if status.payment_details else status


def payment_changes(payment: Any, status: GatewayReport) -> dict[str, Any]:
    """The fields a gateway report changes on a payment (a `Payment`, or its row)."""
    changes: dict[str, Any] = {
        "status": status.gateway_status,
        "fraud_status": status.fraud_verdict,
        "transaction_id": status.transaction_id or payment.transaction_id,
        "payment_type": status.payment_type or payment.payment_type,
        "refunded_amount": max(payment.refunded_amount, status.refunded_amount),
    }
    if status.payment_details:
        changes["instructions"] = {**(payment.instructions or {}), **status.payment_details}
    if payment.status in UNANSWERED and status.event == GatewayEvent.PENDING:
        # The create call's answer (the QR, the VA number) never came back, only this report:
        # the payment stays unanswered, so a retry with the same Idempotency-Key asks again.
        del changes["status"]
    return {k: v for k, v in changes.items() if getattr(payment, k) != v}


@dataclass(frozen=True)
class Verdict:
    """`judge`: not applicable (`problem`), a declined Snap card the customer
    may follow with another (`retry`), or the state table's `outcome`."""

    problem: str | None = None
    mismatch: bool = False
    retry: bool = False
    outcome: machine.Outcome | None = None


@dataclass(frozen=True)
class Applied:
    """What `apply` did to an order."""

    order_id: str
    before: Status
    after: Status
    changed: bool
    ignored: bool
    note: str | None = None
    mismatch: bool = False  # the gateway's amount or currency is not the order's: refused
    machine_id: str | None = None  # of a changed kiosk order: where `publish` rings too
    late_refund: int | None = None  # id of a refund to ask the gateway for, after commit


@dataclass(frozen=True)
class Screening:
    """`PaymentsService.screen`: the order is unknown (`known` False), or the notification changes
    nothing (`applied`), or it goes on to `apply_status`: by the gateway's status API's answer
    (`confirm`) or by the body."""

    known: bool
    applied: Applied | None = None
    confirm: bool = False


def judge(
    order: Any,
    before: Status,
    event: Event | None,
    status: GatewayReport | None,
    now: datetime,
) -> Verdict:
    """What an event does to an order (an `Order`, or its row), before anything is written."""
    problem = mismatch(order, status) if status is not None else None
    if problem is not None:
        return Verdict(problem=problem, mismatch=True)
    if event is None:
        unknown = f"unknown gateway status {status.gateway_status!r}" if status else None
        return Verdict(problem=unknown)
    if retry_allowed(order, before, event, status, now):
        return Verdict(retry=True)
    return Verdict(outcome=machine.apply(before, event))


def mismatch(order: Any, status: GatewayReport) -> str | None:
    if status.gross_amount != order.gross_amount:
        return f"amount mismatch: gateway {status.gross_amount}, order {order.gross_amount}"
    if status.currency != order.currency:
        return f"currency mismatch: gateway {status.currency}, order {order.currency}"
    return None


def retry_allowed(
    order: Any, before: Status, event: Event, status: GatewayReport | None, now: datetime
) -> bool:
    """Snap lets a customer whose card was declined try another card until the order expires."""
    return (
        event == Event.PAYMENT_DENIED
        and before == Status.PENDING
        and status is not None
        and status.payment_type == "credit_card"
        and order.payment_type == "snap"
        and now < order.expires_at
    )
