"""Migration 0007_catalog: products gain a description, a category and `archived`; the products
there before keep everything and are not archived."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bayar.storage.db import Database
from bayar.storage.migrate import upgrade
from bayar.storage.models import Product


async def _run(url: str, statement: str) -> None:
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(text(statement), {"now": datetime(2026, 5, 1, tzinfo=UTC)})
    finally:
        await db.close()


async def _product(url: str) -> tuple[str, bool, bool, str | None, str | None]:
    db = Database(url)
    try:
        async with db.session() as session:
            found = await session.get(Product, "cola")
            assert found is not None
            return found.name, found.active, found.archived, found.description, found.category
    finally:
        await db.close()


def test_products_from_before_are_kept_on_sale_and_not_archived(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'old.sqlite3').as_posix()}"
    upgrade(url, "0006")
    asyncio.run(
        _run(
            url,
            "INSERT INTO products (id, name, price, stock, active, created_at)"
            " VALUES ('cola', 'Cola', 7000, 5, true, :now)",
        )
    )

    upgrade(url)

    assert asyncio.run(_product(url)) == ("Cola", True, False, None, None)
