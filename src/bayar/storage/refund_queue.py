"""The manual-refund queue as the admin reads it: refunds a person must make, and the latest
ones made by hand, each with what the page says of its order."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bayar.storage.db import Database
from bayar.storage.models import Machine, Order, OrderItem, Refund
from bayar.storage.sales import MANUAL


@dataclass(frozen=True)
class ManualRefund:
    """A refund a person must make (or made) by hand, with what the page says of its order."""

    refund_key: str
    order_id: str
    channel: str
    order_status: str
    machine_id: str | None
    machine_name: str | None
    amount: int
    items: str
    reason: str | None
    detail: str | None
    ordered_at: datetime
    since: datetime


async def manual_refunds(
    db: Database, *, by_hand: str, resolved_limit: int = 10
) -> tuple[list[ManualRefund], list[ManualRefund]]:
    """Every refund waiting for a person, oldest first, and the latest succeeded ones whose
    detail starts with `by_hand` (marked as refunded by hand), newest first."""
    async with db.session() as session:
        waiting = await _queue(session, Refund.status == MANUAL, oldest_first=True)
        resolved = await _queue(
            session,
            (Refund.status == "succeeded") & Refund.detail.startswith(by_hand, autoescape=True),
            oldest_first=False,
            limit=resolved_limit,
        )
    return waiting, resolved


async def item_lines(session: AsyncSession, order_ids: set[str]) -> dict[str, str]:
    """Each order's items in words: "2× Teh Botol, 1× Aqua"."""
    lines: dict[str, list[str]] = defaultdict(list)
    if order_ids:
        for item in (
            await session.execute(
                select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)
            )
        ).scalars():
            lines[item.order_id].append(f"{item.quantity}× {item.name}")
    return {order_id: ", ".join(found) for order_id, found in lines.items()}


async def _queue(
    session: AsyncSession, condition: Any, *, oldest_first: bool, limit: int | None = None
) -> list[ManualRefund]:
    when = Refund.updated_at if oldest_first else Refund.updated_at.desc()
    statement = (
        select(Refund, Order, Machine.name)
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(Machine, Machine.id == Order.machine_id)
        .where(condition)
        .order_by(when, Refund.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    rows = (await session.execute(statement)).all()
    lines = await item_lines(session, {refund.order_id for refund, _, _ in rows})
    return [
        ManualRefund(
            refund_key=refund.refund_key,
            order_id=order.id,
            channel=order.channel,
            order_status=order.status,
            machine_id=order.machine_id,
            machine_name=name,
            amount=refund.amount,
            items=lines.get(order.id, ""),
            reason=refund.reason,
            detail=refund.detail,
            ordered_at=order.created_at,
            since=refund.updated_at,
        )
        for refund, order, name in rows
    ]
