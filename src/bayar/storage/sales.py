"""What the admin's dashboard counts: money taken and given back since a moment, orders by
status, the refunds waiting for a person and the money someone should look at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bayar.payments.states import OPEN, Status
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import Order, OrderEvent, Refund
from bayar.storage.snapshots import OrderSnapshot

MANUAL = "manual"  # a refund's status while it waits for a person
NEWEST = 6  # the latest orders the dashboard lists


@dataclass(frozen=True)
class Movement:
    """Money that moved at a moment: a payment taken, or a refund given back."""

    at: datetime
    amount: int


@dataclass(frozen=True)
class SalesFigures:
    paid: list[Movement]  # each order that became paid, when it did
    refunded: list[Movement]  # each refund that succeeded (late payments' refunds left out)
    by_status: dict[str, int]
    manual_refunds: int
    attention: list[repo.Attention]
    newest: list[OrderSnapshot]


async def sales_figures(
    db: Database, since: datetime, *, settled_attention_since: datetime, attention_limit: int
) -> SalesFigures:
    """Payments taken (counted when an order became paid) and refunds given back (when they
    succeeded) since `since`; "needs attention": everything still waiting, and late payments
    whose refund settled after `settled_attention_since`."""
    async with db.session() as session:
        paid = await session.execute(
            select(OrderEvent.at, Order.gross_amount)
            .join(Order, Order.id == OrderEvent.order_id)
            .where(
                OrderEvent.to_status == Status.PAID.value,
                OrderEvent.from_status.in_(OPEN),
                OrderEvent.ignored.is_(False),
                OrderEvent.at >= since,
            )
        )
        refunds = await session.execute(
            select(Refund.updated_at, Refund.amount).where(
                Refund.status == "succeeded",
                Refund.updated_at >= since,
                # A late payment's refund gives back money never counted as paid revenue.
                ~Refund.refund_key.startswith(repo.LATE_PAYMENT_PREFIX, autoescape=True),
            )
        )
        paid_rows = [Movement(at, amount) for at, amount in paid.all()]
        refund_rows = [Movement(at, amount) for at, amount in refunds.all()]
        by_status = await repo.count_by_status(session)
        manual = await _manual_count(session)
        attention = [
            item
            for item in await repo.needing_attention(session, limit=100)
            if item.refund_status != "succeeded" or item.at >= settled_attention_since
        ][:attention_limit]
        newest = (
            (await session.execute(select(Order).order_by(Order.created_at.desc()).limit(NEWEST)))
            .scalars()
            .all()
        )
    return SalesFigures(
        paid=paid_rows,
        refunded=refund_rows,
        by_status=by_status,
        manual_refunds=manual,
        attention=attention,
        newest=[OrderSnapshot.of(o) for o in newest],
    )


async def manual_refund_count(db: Database) -> int:
    """Refunds waiting for a person (the manual-refund queue, shop and kiosk alike)."""
    async with db.session() as session:
        return await _manual_count(session)


async def _manual_count(session: AsyncSession) -> int:
    count = await session.execute(
        select(func.count()).select_from(Refund).where(Refund.status == MANUAL)
    )
    return int(count.scalar_one())
