"""What a kiosk screen reads: its machine's menu, an order as the screen shows it, and the
newest order of the machine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bayar.storage.db import Database
from bayar.storage.dispenses import first_item
from bayar.storage.models import Dispense, Order, Payment, Product, Slot
from bayar.storage.snapshots import ItemSnapshot, OrderSnapshot


@dataclass(frozen=True)
class MenuLine:
    slot: str
    product_id: str
    name: str
    price: int
    image_url: str | None
    stock: int


@dataclass(frozen=True)
class KioskOrder:
    order: OrderSnapshot
    item: ItemSnapshot | None
    image_url: str | None  # the item's product picture
    qr_string: str | None
    dispense_status: str | None


async def menu(db: Database, machine_id: str) -> list[MenuLine]:
    """The machine's slots of products on sale, by slot code."""
    async with db.session() as session:
        rows = await session.execute(
            select(Slot, Product)
            .join(Product, Product.id == Slot.product_id)
            .where(Slot.machine_id == machine_id, Product.active.is_(True))
            .order_by(Slot.code)
        )
        return [
            MenuLine(
                slot.code, product.id, product.name, product.price, product.image_url, slot.stock
            )
            for slot, product in rows.all()
        ]


async def kiosk_order(db: Database, order_id: str) -> KioskOrder | None:
    async with db.session() as session:
        order = await session.get(Order, order_id)
        if order is None:
            return None
        item = await first_item(session, order_id)
        product = await session.get(Product, item.product_id) if item else None
        payment = await session.get(Payment, order_id)
        dispense = await session.get(Dispense, order_id)
        qr = (payment.instructions or {}).get("qr_string") if payment else None
        return KioskOrder(
            order=OrderSnapshot.of(order),
            item=item,
            image_url=product.image_url if product else None,
            qr_string=qr,
            dispense_status=dispense.status if dispense else None,
        )


async def newest_order(
    db: Database, machine_id: str, since: datetime
) -> tuple[OrderSnapshot, str | None] | None:
    """The machine's newest order made since `since`, and its dispense's status."""
    async with db.session() as session:
        order = (
            await session.execute(
                select(Order)
                .where(Order.machine_id == machine_id, Order.created_at >= since)
                .order_by(Order.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if order is None:
            return None
        dispense = await session.get(Dispense, order.id)
        return OrderSnapshot.of(order), dispense.status if dispense else None
