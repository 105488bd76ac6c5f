"""`Database.transaction()`: the core's statements on its connection and the ORM's work on a
session in the same transaction, committed together or not at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

import pytest
from factories import order_row
from sqlalchemy import Table, func, select, update

from bayar.storage.db import Database
from bayar.storage.models import Order

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ORDERS = cast(Table, Order.__table__)


def _order(order_id: str) -> Order:
    return order_row(order_id, at=NOW)


async def _orders(db: Database) -> dict[str, str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(ORDERS.c.id, ORDERS.c.status))
        return {row.id: row.status for row in rows}


async def test_the_session_and_the_connection_commit_together(database: Database) -> None:
    async with database.transaction() as tx:
        tx.session.add(_order("o-orm"))
        await tx.session.flush()
        await tx.conn.execute(update(ORDERS).where(ORDERS.c.id == "o-orm").values(status="paid"))
        tx.session.add(_order("o-pending-at-commit"))  # flushed by the transaction's end
    assert await _orders(database) == {"o-orm": "paid", "o-pending-at-commit": "pending"}


async def test_an_error_undoes_both(database: Database) -> None:
    async def fails() -> None:
        async with database.transaction() as tx:
            tx.session.add(_order("o-gone"))
            await tx.session.flush()
            await tx.conn.execute(update(ORDERS).values(status="paid"))
            raise RuntimeError("the apply failed")

    with pytest.raises(RuntimeError):
        await fails()
    async with database.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(ORDERS))).scalar() == 0


@pytest.mark.postgres
async def test_a_burst_above_the_pool_size_keeps_its_connections(postgres_database: str) -> None:
    """Twice as many transactions at once as the pool's size: the second burst runs on the
    connections the first one opened (an overflow connection would have been closed on return,
    and PostgreSQL would fork a new backend for the next)."""
    db = Database(postgres_database, pool_size=3)
    both_in = asyncio.Barrier(6)

    async def backend() -> int:
        async with db.transaction() as tx:
            pid = (await tx.conn.execute(select(func.pg_backend_pid()))).scalar_one()
            await both_in.wait()
            return int(pid)

    try:
        first = set(await asyncio.gather(*(backend() for _ in range(6))))
        second = set(await asyncio.gather(*(backend() for _ in range(6))))
    finally:
        await db.close()
    assert len(first) == 6
    assert second == first
