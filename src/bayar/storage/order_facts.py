"""An order and its payment as the core judges a report against them: plain frozen values read
in one statement (the inbox's look, without a lock; the apply's, under the order's lock or with
the rows' versions, `repositories.lock_order_with_payment`), never ORM objects, so judging and
applying cost no unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select

from bayar.storage.models import Order, Payment


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
    notification never brings any the core would take); the keep of one that goes on to be
    applied, and the apply, do."""

    status: str
    fraud_status: str | None
    transaction_id: str | None
    payment_type: str
    refunded_amount: int
    gateway: str  # the gateway the order was created at
    instructions: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AsRead:
    """An order and its payment (with its instructions) as read before an apply (the inbox's
    look and keep), each with its row's version (`xmin`) as of that read: `Database.quick`'s
    apply decides on them without reading again, and its write is guarded by those versions."""

    order: OrderFacts
    payment: PaymentFacts
    order_version: int
    payment_version: int


_ORDERS = cast(Table, Order.__table__)
_PAYMENTS = cast(Table, Payment.__table__)
# The read both facts come from, columns in the order `facts_of` takes them (the caller adds its
# WHERE; the apply also its lock and the payment's instructions).
FACTS = select(
    _ORDERS.c.id,
    _ORDERS.c.status,
    _ORDERS.c.gross_amount,
    _ORDERS.c.currency,
    _ORDERS.c.payment_type,
    _ORDERS.c.expires_at,
    _ORDERS.c.machine_id,
    _PAYMENTS.c.status,
    _PAYMENTS.c.fraud_status,
    _PAYMENTS.c.transaction_id,
    _PAYMENTS.c.payment_type,
    _PAYMENTS.c.refunded_amount,
    _PAYMENTS.c.gateway,
).select_from(_ORDERS.outerjoin(_PAYMENTS, _PAYMENTS.c.order_id == _ORDERS.c.id))


def order_of(row: Sequence[Any]) -> OrderFacts:
    """The order of a row whose first columns are `FACTS`' order columns, in their order."""
    return OrderFacts(row[0], row[1], row[2], row[3], row[4], utc(row[5]), row[6])


def payment_of(row: Sequence[Any]) -> PaymentFacts:
    """The payment of a row whose first columns are `FACTS`' payment columns, in their order,
    then its instructions if the row has them."""
    instructions = row[6] if len(row) > 6 else None
    return PaymentFacts(row[0], row[1], row[2], row[3], row[4], row[5], instructions)


def facts_of(row: Sequence[Any]) -> tuple[OrderFacts, PaymentFacts | None]:
    """A row of `FACTS`' columns (SQLAlchemy's or asyncpg's), and the payment's instructions when
    the row has them as one more column."""
    order = order_of(row)
    if row[7] is None:
        return order, None
    return order, payment_of(row[7:])
