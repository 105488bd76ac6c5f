"""What the shop's pages and the public API read besides an order's details: the products on
sale, an order's payment, how many orders are in each status."""

from __future__ import annotations

from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.snapshots import PaymentSnapshot, ProductSnapshot


async def products_on_sale(db: Database) -> list[ProductSnapshot]:
    """The products on sale, cheapest first."""
    async with db.session() as session:
        return [ProductSnapshot.of(p) for p in await repo.products(session)]


async def payment(db: Database, order_id: str) -> PaymentSnapshot | None:
    async with db.session() as session:
        found = await repo.payment_of(session, order_id)
        return None if found is None else PaymentSnapshot.of(found)


async def orders_by_status(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return await repo.count_by_status(session)
