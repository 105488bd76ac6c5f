"""Orders as the admin lists them: filtered, a page at a time, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select

from bayar.storage.db import Database
from bayar.storage.models import Machine, Order, Payment
from bayar.storage.refund_queue import item_lines
from bayar.storage.snapshots import OrderSnapshot, PaymentSnapshot


@dataclass(frozen=True)
class OrderQuery:
    """Which orders: every field left empty matches every order."""

    status: str = ""
    channel: str = ""
    machine: str = ""
    created_from: datetime | None = None
    created_before: datetime | None = None
    id_contains: str = ""


@dataclass(frozen=True)
class OrderRow:
    order: OrderSnapshot
    items: str
    payment: PaymentSnapshot | None = None


def _filtered(query: OrderQuery) -> Select[Order]:
    statement = select(Order)
    if query.status:
        statement = statement.where(Order.status == query.status)
    if query.channel:
        statement = statement.where(Order.channel == query.channel)
    if query.machine:
        statement = statement.where(Order.machine_id == query.machine)
    if query.created_from:
        statement = statement.where(Order.created_at >= query.created_from)
    if query.created_before:
        statement = statement.where(Order.created_at < query.created_before)
    if query.id_contains:
        text = query.id_contains
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(Order.id.ilike(f"%{escaped}%", escape="\\"))
    return statement


async def list_orders(
    db: Database, query: OrderQuery, *, offset: int, limit: int
) -> tuple[list[OrderRow], int]:
    """`limit` orders matching the query from `offset`, newest first, and how many match in all."""
    statement = _filtered(query)
    async with db.session() as session:
        total = (
            await session.execute(select(func.count()).select_from(statement.subquery()))
        ).scalar_one()
        orders = (
            (
                await session.execute(
                    statement.order_by(Order.created_at.desc(), Order.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            )
            .scalars()
            .all()
        )
        ids = {o.id for o in orders}
        lines = await item_lines(session, ids)
        payments: dict[str, Payment] = {}
        if ids:
            found = await session.execute(select(Payment).where(Payment.order_id.in_(ids)))
            payments = {p.order_id: p for p in found.scalars()}
    rows = [
        OrderRow(
            OrderSnapshot.of(o),
            lines.get(o.id, ""),
            PaymentSnapshot.of(payments[o.id]) if o.id in payments else None,
        )
        for o in orders
    ]
    return rows, int(total)


async def machine_choices(db: Database) -> list[tuple[str, str]]:
    """Every machine's id and name, by id (the orders page's machine filter)."""
    async with db.session() as session:
        rows = await session.execute(select(Machine.id, Machine.name).order_by(Machine.id))
        return [(mid, name) for mid, name in rows.all()]
