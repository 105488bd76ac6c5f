"""The demo catalog of a first start: the seed's drinks (Cola Rp 7.000, Lemon Rp 10.000) and more."""

from __future__ import annotations

from sqlalchemy import func, select

from bayar.storage.db import Database
from bayar.storage.models import Product

DEMO_PRODUCTS = (
    ("air-mineral", "Air Mineral", 4000),
    ("teh-manis", "Teh Manis", 5000),
    ("cola", "Cola", 7000),
    ("jeruk", "Jus Jeruk", 8000),
    ("lemon", "Lemon", 10000),
    ("kopi-susu", "Kopi Susu", 12000),
)
DEMO_STOCK = 50


async def seed_demo_catalog(db: Database, *, image_base: str = "/static/products") -> int:
    """Add the demo products when the catalog is empty; the number added."""
    async with db.session() as session, session.begin():
        count = (await session.execute(select(func.count()).select_from(Product))).scalar_one()
        if count:
            return 0
        session.add_all(
            Product(
                id=pid,
                name=name,
                price=price,
                stock=DEMO_STOCK,
                image_url=f"{image_base}/{pid}.svg",
                active=True,
            )
            for pid, name, price in DEMO_PRODUCTS
        )
    return len(DEMO_PRODUCTS)
