"""An order and its payment as the core judges a report against them: plain frozen values read
in one statement (the inbox's look, without a lock; the apply's, under the order's lock), never
ORM objects, so judging and applying cost no unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def utc(value: datetime) -> datetime:
    """A timestamp as read through asyncpg or SQLite (naive: UTC), made aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The order's row as it was read."""

    id: str
    status: str
    gross_amount: int
    currency: str
    payment_type: str
    expires_at: datetime
    machine_id: str | None  # a kiosk order's machine


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """The order's payment as last reported. The inbox's look does not read its instructions (a
    notification never brings any the core would take); the apply does."""

    status: str
    fraud_status: str | None
    transaction_id: str | None
    payment_type: str
    refunded_amount: int
    gateway: str  # the gateway the order was created at
    instructions: dict[str, Any] | None = None
