"""`Database.transaction()`: the core's statements on its connection and the ORM's work on a
session in the same transaction, committed together or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from databases import terminate_connections
from factories import notification_row, order_row, payment_row
from harness import ONLY_POSTGRES
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.sql.dml import Update

from bayar.storage import prepared
from bayar.storage import repositories as repo
from bayar.storage.db import Database, Tx
from bayar.storage.inbox import InboxStore
from bayar.storage.models import Order, Payment
from bayar.storage.order_facts import AsRead, OrderFacts
from bayar.storage.order_writes import OrderWrites
from bayar.storage.prepared import DriverConnection, NeedsTransaction, RowVersions

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
ORDERS = cast(Table, Order.__table__)
PAYMENTS = cast(Table, Payment.__table__)
Work = Callable[[Tx], Coroutine[Any, Any, str]]


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


def _order_change(**values: object) -> Update:
    return update(ORDERS).where(ORDERS.c.id == "o-stale").values(**values)


async def _pending(db: Database, order_id: str) -> None:
    """A pending order and its pending payment."""
    async with db.transaction() as tx:
        tx.session.add(_order(order_id))
        await tx.session.flush()
        tx.session.add(payment_row(order_id, at=NOW))


def _settle(
    order_id: str,
    runs: list[str],
    *,
    meanwhile: Update | None = None,
    reported: bool = True,
    reads: list[OrderFacts] | None = None,
) -> Work:
    """An apply's shape: the order and its payment read, then a settlement's writes, sent
    together. `meanwhile`: a change another connection commits between the two (first run).
    `reported`: False, the payment was already as the report says (only the order moves).
    `reads`: each run's order as read."""

    async def work(tx: Tx) -> str:
        runs.append(type(tx.conn).__name__)
        read = await repo.lock_order_with_payment(tx.conn, order_id)
        assert read is not None
        if reads is not None:
            reads.append(read[0])
        before = read[0].status
        if meanwhile is not None and len(runs) == 1:
            async with tx.db.engine.begin() as other:
                await other.execute(meanwhile)
        writes = OrderWrites(order_id)
        if reported:
            writes.payment({"status": "settlement"}, LATER)
        writes.move("paid", LATER, checked=True)
        event = "payment_succeeded"
        writes.event(before=before, after="paid", event=event, source="test", note=None, at=LATER)
        await writes.flush(tx.conn)
        return before

    return work


async def _state(db: Database, order_id: str) -> tuple[str, str, list[str | None]]:
    """The order's status, its payment's and where its history's moves started from."""
    async with db.session() as session:
        order = await session.get(Order, order_id)
        payment = await session.get(Payment, order_id)
        history = await repo.history_of(session, order_id)
    assert order is not None
    assert payment is not None
    return order.status, payment.status, [e.from_status for e in history]


async def test_quick_work_reads_and_writes_once_outside_a_transaction(database: Database) -> None:
    await _pending(database, "o-quick")
    runs: list[str] = []
    assert await database.quick(_settle("o-quick", runs)) == "pending"
    assert await _state(database, "o-quick") == ("paid", "settlement", ["pending"])
    # SQLite's is the one transaction there is.
    assert runs == ["AsyncConnection" if database.is_sqlite else "DriverConnection"]


@ONLY_POSTGRES
@pytest.mark.parametrize(
    ("meanwhile", "seen"),
    [
        pytest.param(_order_change(status="expired"), "expired", id="the order moved"),
        pytest.param(_order_change(check_attempts=3), "pending", id="the order was touched"),
        pytest.param(
            update(PAYMENTS).where(PAYMENTS.c.order_id == "o-stale").values(fraud_status="deny"),
            "pending",
            id="the payment changed",
        ),
    ],
)
async def test_a_write_guarded_by_rows_that_changed_runs_again_in_a_transaction(
    database: Database, meanwhile: Update, seen: str
) -> None:
    """What the first run decided on is stale: nothing of it is written, and the second run,
    under the order's lock, decides on the rows as they are (`seen`: the order's status)."""
    await _pending(database, "o-stale")
    runs: list[str] = []
    assert await database.quick(_settle("o-stale", runs, meanwhile=meanwhile)) == seen
    assert runs == ["DriverConnection", "AsyncConnection"]
    assert await _state(database, "o-stale") == ("paid", "settlement", [seen])


@ONLY_POSTGRES
@pytest.mark.parametrize("changes", ["order", "payment", None])
async def test_a_guarded_write_waits_for_the_order_s_lock_and_sees_what_was_done_under_it(
    database: Database, changes: str | None
) -> None:
    """An apply holds the order's lock while the guarded write is sent: the write waits for it,
    then finds the row the apply changed changed (the payment too, though the write touches only
    the order). An apply that changed nothing lets it through."""
    await _pending(database, "o-wait")
    runs: list[str] = []
    pool = await database.asyncpg_pool()
    async with database.transaction() as tx:
        assert await repo.lock_order_with_payment(tx.conn, "o-wait") is not None
        writes = OrderWrites("o-wait")
        if changes == "order":
            writes.move("expired", NOW, checked=True)
        elif changes == "payment":
            writes.payment({"fraud_status": "accept"}, NOW)
        await writes.flush(tx.conn)
        async with pool.acquire() as raw:
            conn = DriverConnection(raw, database.engine.dialect, RowVersions())
            settle = _settle("o-wait", runs, reported=False)
            write = asyncio.create_task(settle(Tx(database, conn)))
            await _until_waiting_for_a_lock(database)
            assert not write.done()
    if changes is None:
        assert await write == "pending"
        assert await _state(database, "o-wait") == ("paid", "pending", ["pending"])
        return
    with pytest.raises(NeedsTransaction):
        await write
    status = "expired" if changes == "order" else "pending"
    assert (await _state(database, "o-wait"))[:2] == (status, "pending")


async def _looked_and_kept(db: Database, order_id: str, between: Update | None) -> AsRead | None:
    """A notification about `order_id` through the inbox's look and keep (the order flagged for
    the worker a minute on); `between`: a change another connection commits between the two."""
    async with InboxStore(db).visit() as visit:
        await visit.look(f"k-{order_id}", order_id)
        if between is not None:
            async with db.engine.begin() as other:
                await other.execute(between)
        row = await visit.keep(notification_row(f"k-{order_id}", at=NOW), flag=order_id, at=LATER)
        assert row is not None
        return visit.as_read


def _known_change(table: Table, **values: object) -> Update:
    key = table.c.id if table is ORDERS else table.c.order_id
    return update(table).where(key == "o-known").values(**values)


async def test_the_inbox_reads_the_rows_versions_on_postgresql_only(database: Database) -> None:
    await _pending(database, "o-known")
    as_read = await _looked_and_kept(database, "o-known", None)
    assert (as_read is None) == database.is_sqlite


@ONLY_POSTGRES
@pytest.mark.parametrize(
    ("between", "seen", "runs_made"),
    [
        pytest.param(None, "pending", 1, id="nothing changed"),
        pytest.param(
            _known_change(ORDERS, status="expired"), "expired", 1, id="the order moved, flagged"
        ),
        pytest.param(
            _known_change(ORDERS, status="expired", next_check_at=NOW),
            "expired",
            2,
            id="the order moved, already flagged",
        ),
        pytest.param(
            _known_change(PAYMENTS, fraud_status="deny"), "pending", 1, id="the payment changed"
        ),
    ],
)
async def test_quick_work_decides_on_the_rows_the_inbox_read_while_they_are_unchanged(
    database: Database, between: Update | None, seen: str, runs_made: int
) -> None:
    """The inbox's look reads the order with its row's version, and its keep the payment (and
    the order again when its flag writes a new version of it): the apply takes them as they were
    read instead of reading them again. A change to the order between the look and the keep
    that the flag did not write over leaves it stale: the guarded write refuses it, and the
    second run, under the order's lock, decides on the rows as they are (`seen`: the order's
    status)."""
    await _pending(database, "o-known")
    as_read = await _looked_and_kept(database, "o-known", between)
    assert as_read is not None
    async with database.session() as session:
        payment = await session.get(Payment, "o-known")
    assert payment is not None
    assert (as_read.payment.fraud_status, as_read.payment.instructions) == (
        payment.fraud_status,
        payment.instructions,
    )
    runs: list[str] = []
    reads: list[OrderFacts] = []

    decided = await database.quick(_settle("o-known", runs, reads=reads), as_read)

    assert decided == seen
    assert runs == ["DriverConnection", "AsyncConnection"][:runs_made]
    assert reads[0] is as_read.order  # taken as the inbox read it, not read again
    assert await _state(database, "o-known") == ("paid", "settlement", [seen])


@ONLY_POSTGRES
@pytest.mark.parametrize(
    ("meanwhile", "seen"),
    [
        pytest.param(_known_change(ORDERS, status="expired"), "expired", id="the order moved"),
        pytest.param(
            _known_change(PAYMENTS, fraud_status="deny"), "pending", id="the payment changed"
        ),
    ],
)
async def test_rows_the_inbox_read_are_refused_once_they_change(
    database: Database, meanwhile: Update, seen: str
) -> None:
    await _pending(database, "o-known")
    as_read = await _looked_and_kept(database, "o-known", None)
    runs: list[str] = []
    reads: list[OrderFacts] = []

    decided = await database.quick(
        _settle("o-known", runs, meanwhile=meanwhile, reads=reads), as_read
    )

    assert decided == seen
    assert runs == ["DriverConnection", "AsyncConnection"]
    assert as_read is not None
    assert reads[0] is as_read.order
    assert reads[1].status == seen
    assert await _state(database, "o-known") == ("paid", "settlement", [seen])


async def _until_waiting_for_a_lock(db: Database) -> None:
    """Until some other backend waits for a row's lock (PostgreSQL's own view of it)."""
    waiting = select(func.count()).where(text("wait_event_type = 'Lock'"))
    waiting = waiting.select_from(text("pg_stat_activity"))
    for _ in range(500):
        async with db.engine.connect() as conn:
            if (await conn.execute(waiting)).scalar():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("no backend waits for a lock")


@ONLY_POSTGRES
async def test_quick_work_may_not_write_outside_a_transaction_but_by_a_guarded_write(
    database: Database,
) -> None:
    """A plain write would commit on its own: it is refused before it is sent, and the work runs
    again in a transaction."""
    await _add(database, "o-plain")
    runs: list[str] = []

    async def work(tx: Tx) -> int:
        runs.append(type(tx.conn).__name__)
        await prepared.execute(tx.conn, _paid("o-plain"), {})
        return len(runs)

    assert await database.quick(work) == 2
    assert runs == ["DriverConnection", "AsyncConnection"]
    assert await _orders(database) == {"o-plain": "paid"}


@ONLY_POSTGRES
async def test_quick_work_that_asks_for_the_session_runs_again_in_a_transaction(
    database: Database,
) -> None:
    await _add(database, "o-first")
    runs: list[str] = []

    async def work(tx: Tx) -> int:
        runs.append(type(tx.conn).__name__)
        tx.session.add(_order(f"o-run-{len(runs)}"))
        await prepared.execute(tx.conn, _paid("o-first"), {})
        return len(runs)

    assert await database.quick(work) == 2
    assert runs == ["DriverConnection", "AsyncConnection"]
    assert await _orders(database) == {"o-first": "paid", "o-run-2": "pending"}


async def test_quick_work_that_fails_is_undone_and_not_run_again(database: Database) -> None:
    """It fails where it has to write: in its transaction (on PostgreSQL its second run)."""
    await _add(database, "o-fails")
    runs: list[str] = []

    async def work(tx: Tx) -> None:
        runs.append(type(tx.conn).__name__)
        await prepared.execute(tx.conn, _paid("o-fails"), {})
        raise RuntimeError("the apply failed")

    with pytest.raises(RuntimeError):
        await database.quick(work)
    assert runs[-1] == "AsyncConnection"
    assert len(runs) == (1 if database.is_sqlite else 2)
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
        await prepared.execute(tx.conn, PID, {})
        await prepared.execute(tx.conn, _paid("o-restart"), {})

    await database.quick(work)
    assert runs == 2
    assert await _orders(database) == {"o-restart": "paid"}
