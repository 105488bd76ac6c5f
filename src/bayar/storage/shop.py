"""What the shop's pages and the public API read besides an order (`payments.reads`): the
products on sale, how many orders are in each status."""

from __future__ import annotations

from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.snapshots import ProductSnapshot


async def products_on_sale(db: Database) -> list[ProductSnapshot]:
    """The products on sale, cheapest first."""
    async with db.session() as session:
        return [ProductSnapshot.of(p) for p in await repo.products(session)]


async def orders_by_status(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return await repo.count_by_status(session)
