"""`Database.transaction()`: the core's statements on its connection and the ORM's work on a
session in the same transaction, committed together or not at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

import pytest
from databases import terminate_connections
from factories import order_row
from harness import ONLY_POSTGRES
from sqlalchemy import Table, func, select, update
from sqlalchemy.sql.dml import Update

from bayar.storage import prepared
from bayar.storage.db import Database, Tx
from bayar.storage.models import Order
from bayar.storage.prepared import DriverConnection

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ORDERS = cast(Table, Order.__table__)


PID = select(func.pg_backend_pid())


def _order(order_id: str) -> Order:
    return order_row(order_id, at=NOW)


def _paid(order_id: str) -> Update:
    return update(ORDERS).where(ORDERS.c.id == order_id).values(status="paid")


async def _orders(db: Database) -> dict[str, str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(ORDERS.c.id, ORDERS.c.status))
        return {row.id: row.status for row in rows}


async def test_the_session_and_the_connection_commit_together(database: Database) -> None:
    async with database.transaction() as tx:
        tx.session.add(_order("o-orm"))
        await tx.session.flush()
        await prepared.execute(tx.conn, _paid("o-orm"), {})
        tx.session.add(_order("o-pending-at-commit"))  # flushed by the transaction's end
    assert await _orders(database) == {"o-orm": "paid", "o-pending-at-commit": "pending"}


async def test_an_error_undoes_both(database: Database) -> None:
    async def fails() -> None:
        async with database.transaction() as tx:
            tx.session.add(_order("o-gone"))
            await tx.session.flush()
            await prepared.execute(tx.conn, _paid("o-gone"), {})
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
            pid = (await prepared.execute(tx.conn, PID, {}))[0][0]
            await both_in.wait()
            return int(pid)

    try:
        first = set(await asyncio.gather(*(backend() for _ in range(6))))
        second = set(await asyncio.gather(*(backend() for _ in range(6))))
    finally:
        await db.close()
    assert len(first) == 6
    assert second == first


async def _add(db: Database, order_id: str) -> None:
    async with db.transaction() as tx:
        tx.session.add(_order(order_id))


async def test_quick_work_commits_on_a_plain_connection(database: Database) -> None:
    await _add(database, "o-quick")
    kinds: list[bool] = []

    async def work(tx: Tx) -> str:
        kinds.append(isinstance(tx.conn, DriverConnection))
        await prepared.execute(tx.conn, _paid("o-quick"), {})
        return "done"

    assert await database.quick(work) == "done"
    assert await _orders(database) == {"o-quick": "paid"}
    assert kinds == [not database.is_sqlite]  # SQLite's is the one transaction there is


@ONLY_POSTGRES
async def test_quick_work_that_asks_for_the_session_runs_again_in_a_transaction(
    database: Database,
) -> None:
    """What the first run wrote is rolled back; the second run, with a session, is committed."""
    await _add(database, "o-first")
    runs: list[str] = []

    async def work(tx: Tx) -> int:
        runs.append(type(tx.conn).__name__)
        await prepared.execute(tx.conn, _paid("o-first"), {})
        tx.session.add(_order(f"o-run-{len(runs)}"))
        return len(runs)

    assert await database.quick(work) == 2
    assert runs == ["DriverConnection", "AsyncConnection"]
    assert await _orders(database) == {"o-first": "paid", "o-run-2": "pending"}


async def test_quick_work_that_fails_is_undone_and_not_run_again(database: Database) -> None:
    await _add(database, "o-fails")
    runs = 0

    async def work(tx: Tx) -> None:
        nonlocal runs
        runs += 1
        await prepared.execute(tx.conn, _paid("o-fails"), {})
        raise RuntimeError("the apply failed")

    with pytest.raises(RuntimeError):
        await database.quick(work)
    assert runs == 1
    assert await _orders(database) == {"o-fails": "pending"}


@ONLY_POSTGRES
async def test_quick_work_after_a_restart_runs_again_on_new_connections(
    database: Database,
) -> None:
    """The database restarted: every connection of both pools is dead, the engine's idle one
    too. The work that met the restart runs again on connections opened after it."""
    await _add(database, "o-restart")  # the engine's pool now holds an idle connection
    runs = 0

    async def work(tx: Tx) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await terminate_connections(database.url)
        await prepared.execute(tx.conn, _paid("o-restart"), {})

    await database.quick(work)
    assert runs == 2
    assert await _orders(database) == {"o-restart": "paid"}
