"""The machines' slots as the admin sees and fills them.

Stock is "units free to sell": an open order has already taken its units out. So an admin types the
units *on hand* (in the slot) and the free stock becomes on hand minus the units held by open
orders, under the row's lock, so a restock never gives away a reserved unit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bayar.payments.states import OPEN, Status
from bayar.storage.db import Database
from bayar.storage.models import Dispense, Machine, Order, OrderItem, Product, Slot

# A paid kiosk order whose drink has not come out yet still has its unit in the slot.
IN_FLIGHT_DISPENSE = ("pending", "commanded")


class RestockRefused(Exception):
    """No such slot (`capacity` None), or more units than it holds (its `capacity`)."""

    def __init__(self, message: str, capacity: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.capacity = capacity


@dataclass(frozen=True)
class SlotStock:
    code: str
    product_id: str
    product_name: str
    image_url: str | None
    stock: int  # free to sell
    held: int  # in the slot, promised to an order
    capacity: int

    @property
    def on_hand(self) -> int:
        return self.stock + self.held


@dataclass(frozen=True)
class MachineStock:
    id: str
    name: str
    location: str | None
    active: bool
    last_seen_at: datetime | None
    slots: list[SlotStock]


def _holds(
    status: str, dispense_status: str | None, created_at: datetime, now: datetime, recent: timedelta
) -> bool:
    if status in OPEN:
        return True
    if status != Status.PAID.value:
        return False
    if dispense_status is None:
        return now - created_at < recent  # a paid kiosk order its machine has not claimed yet
    return dispense_status in IN_FLIGHT_DISPENSE


async def _slot_holds(
    session: AsyncSession, now: datetime, recent: timedelta, machine_id: str | None = None
) -> dict[tuple[str, str], int]:
    """Units per (machine, slot) still physically in the slot but promised to an order."""
    statement = (
        select(
            Order.machine_id,
            OrderItem.slot_code,
            OrderItem.quantity,
            Order.status,
            Dispense.status,
            Order.created_at,
        )
        .join(Order, Order.id == OrderItem.order_id)
        .outerjoin(Dispense, Dispense.order_id == Order.id)
        .where(
            OrderItem.slot_code.is_not(None),
            Order.machine_id.is_not(None),
            Order.status.in_((*OPEN, Status.PAID.value)),
        )
    )
    if machine_id is not None:
        statement = statement.where(Order.machine_id == machine_id)
    held: dict[tuple[str, str], int] = defaultdict(int)
    for machine, code, quantity, status, dispense, created in (
        await session.execute(statement)
    ).all():
        if (
            machine is not None
            and code is not None
            and _holds(status, dispense, created, now, recent)
        ):
            held[(machine, code)] += quantity
    return held


async def machines_stock(db: Database, now: datetime, recent: timedelta) -> list[MachineStock]:
    """Every machine with its slots: free units and units held by orders (a paid kiosk order
    its machine has not claimed holds its unit for `recent` after it was made)."""
    async with db.session() as session:
        rows = (await session.execute(select(Machine).order_by(Machine.id))).scalars().all()
        slots = await session.execute(
            select(Slot, Product)
            .join(Product, Product.id == Slot.product_id)
            .order_by(Slot.machine_id, Slot.code)
        )
        by_machine: dict[str, list[tuple[Slot, Product]]] = defaultdict(list)
        for slot, product in slots.all():
            by_machine[slot.machine_id].append((slot, product))
        held = await _slot_holds(session, now, recent)
    return [
        MachineStock(
            id=machine.id,
            name=machine.name,
            location=machine.location,
            active=machine.active,
            last_seen_at=machine.last_seen_at,
            slots=[
                SlotStock(
                    code=slot.code,
                    product_id=product.id,
                    product_name=product.name,
                    image_url=product.image_url,
                    stock=slot.stock,
                    held=held.get((machine.id, slot.code), 0),
                    capacity=slot.capacity,
                )
                for slot, product in by_machine.get(machine.id, [])
            ],
        )
        for machine in rows
    ]


async def restock(
    db: Database, machine_id: str, code: str, on_hand: int, now: datetime, recent: timedelta
) -> SlotStock:
    """Set a slot to `on_hand` units (at most its capacity); its free stock is what open orders
    do not hold. The slot row is locked first, so a concurrent purchase is counted exactly once.
    Raises RestockRefused."""
    async with db.session() as session, session.begin():
        slot = (
            await session.execute(
                select(Slot)
                .where(Slot.machine_id == machine_id, Slot.code == code)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if slot is None:
            raise RestockRefused(f"machine {machine_id} has no slot {code}")
        if on_hand < 0 or on_hand > slot.capacity:
            raise RestockRefused(
                f"slot {code} holds between 0 and {slot.capacity} units", slot.capacity
            )
        held = (await _slot_holds(session, now, recent, machine_id)).get((machine_id, code), 0)
        slot.stock = max(0, on_hand - held)
        product = await session.get(Product, slot.product_id)
        return SlotStock(
            code=code,
            product_id=slot.product_id,
            product_name=product.name if product else slot.product_id,
            image_url=None,
            stock=slot.stock,
            held=held,
            capacity=slot.capacity,
        )
