"""The dispense rows of paid kiosk orders. A dispense's status moves only by compare-and-set
(`UPDATE … WHERE status IN …`), so racing sockets, sweeps and processes move it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bayar.payments.states import Status
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import Dispense, Order, OrderItem
from bayar.storage.snapshots import ItemSnapshot


async def first_item(session: AsyncSession, order_id: str) -> ItemSnapshot | None:
    """A kiosk order's one item."""
    found = (
        (await session.execute(select(OrderItem).where(OrderItem.order_id == order_id)))
        .scalars()
        .first()
    )
    return None if found is None else ItemSnapshot.of(found)


async def exists(session: AsyncSession, order_id: str) -> bool:
    return await session.get(Dispense, order_id) is not None


def add_pending(
    session: AsyncSession, order_id: str, machine_id: str, slot_code: str, now: datetime
) -> None:
    """In the caller's transaction: the order's dispense, pending until a socket takes it."""
    session.add(
        Dispense(
            order_id=order_id,
            machine_id=machine_id,
            slot_code=slot_code,
            status="pending",
            commands=0,
            created_at=now,
        )
    )


async def claim(
    db: Database,
    machine_id: str,
    order_id: str,
    connection_id: str,
    wanted: tuple[str, ...],
    now: datetime,
) -> ItemSnapshot | None:
    """Command the dispense of the machine's paid order (its status one of `wanted`) to the
    socket `connection_id`: its item, or None when it is not this machine's paid order or the
    dispense is not in a `wanted` status. The order is locked once, for the whole claim."""
    async with db.session() as session, session.begin():
        order = await repo.lock_order(session, order_id)
        if order is None or order.machine_id != machine_id or order.status != Status.PAID:
            return None
        item = await first_item(session, order_id)
        if item is None or item.slot_code is None:
            return None
        if not await exists(session, order_id):
            # Paid before dispense rows were made with the payment (older data).
            add_pending(session, order_id, machine_id, item.slot_code, now)
            await session.flush()
        claimed = await session.execute(
            update(Dispense)
            .where(Dispense.order_id == order_id, Dispense.status.in_(wanted))
            .values(
                status="commanded",
                commands=Dispense.commands + 1,
                connection_id=connection_id,
                commanded_at=func.coalesce(Dispense.commanded_at, now),
            )
            .returning(Dispense.order_id)
        )
        return item if claimed.scalar_one_or_none() is not None else None


async def move(
    session: AsyncSession,
    order_id: str,
    from_statuses: tuple[str, ...],
    to_status: str,
    detail: str | None,
    now: datetime,
    *,
    machine_id: str | None = None,
    connection_id: str | None = None,
) -> bool:
    """Compare-and-set in the caller's transaction: True when this call moved it."""
    conditions = [Dispense.order_id == order_id, Dispense.status.in_(from_statuses)]
    if machine_id is not None:
        conditions.append(Dispense.machine_id == machine_id)
    if connection_id is not None:
        conditions.append(Dispense.connection_id == connection_id)
    result = await session.execute(
        update(Dispense)
        .where(*conditions)
        .values(status=to_status, detail=detail, finished_at=now)
        .returning(Dispense.order_id)
    )
    return result.scalar_one_or_none() is not None


async def move_now(
    db: Database,
    order_id: str,
    from_statuses: tuple[str, ...],
    to_status: str,
    detail: str | None,
    now: datetime,
    *,
    machine_id: str | None = None,
    connection_id: str | None = None,
) -> bool:
    """`move` in a transaction of its own."""
    async with db.session() as session, session.begin():
        return await move(
            session,
            order_id,
            from_statuses,
            to_status,
            detail,
            now,
            machine_id=machine_id,
            connection_id=connection_id,
        )


async def status_of(db: Database, order_id: str) -> str | None:
    async with db.session() as session:
        found = await session.get(Dispense, order_id)
        return None if found is None else found.status


async def due(db: Database, machine_id: str, wanted: tuple[str, ...]) -> list[str]:
    """The machine's paid orders whose dispense is in a `wanted` status, oldest first."""
    async with db.session() as session:
        rows = await session.execute(
            select(Dispense.order_id)
            .join(Order, Order.id == Dispense.order_id)
            .where(
                Dispense.machine_id == machine_id,
                Dispense.status.in_(wanted),
                Order.status == Status.PAID.value,
            )
            .order_by(Dispense.created_at, Dispense.order_id)
        )
        return list(rows.scalars().all())


async def overdue(
    db: Database,
    *,
    commanded_before: datetime,
    pending_before: datetime,
    failed_before: datetime,
) -> list[tuple[str, str, str]]:
    """(order_id, machine_id, status) of the dispenses to fail and refund: commanded before
    `commanded_before`, pending since before `pending_before`, waiting for a refund retry, and
    failed before `failed_before` (its refund never ran: the process stopped in between)."""
    async with db.session() as session:
        rows = await session.execute(
            select(Dispense.order_id, Dispense.machine_id, Dispense.status).where(
                ((Dispense.status == "commanded") & (Dispense.commanded_at <= commanded_before))
                | ((Dispense.status == "pending") & (Dispense.created_at <= pending_before))
                | (Dispense.status == "refund_retry")
                | ((Dispense.status == "failed") & (Dispense.finished_at <= failed_before))
            )
        )
        return [(order_id, machine, status) for order_id, machine, status in rows.all()]


async def machines_with_pending(db: Database, before: datetime) -> list[str]:
    """Machines with a dispense pending since before `before`."""
    async with db.session() as session:
        rows = await session.execute(
            select(Dispense.machine_id)
            .where(Dispense.status == "pending", Dispense.created_at <= before)
            .distinct()
        )
        return list(rows.scalars().all())
