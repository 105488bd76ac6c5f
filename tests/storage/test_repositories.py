"""Storage on SQLite and PostgreSQL: migrations equal the models, and the queries the core relies
on for its guarantees (no oversell, one inbox row per notification, one claim per due order)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from factories import notification_row, order_row, payment_row
from sqlalchemy import Connection, event, func, inspect, select
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.exc import StatementError

from bayar.storage import repositories as repo
from bayar.storage.db import Database, Tx
from bayar.storage.gateway_calls import GatewayCallRow
from bayar.storage.inbox import InboxStore, Look
from bayar.storage.migrate import upgrade
from bayar.storage.models import Base, Notification, Order, OrderItem, Payment, Product, Refund
from bayar.storage.order_writes import OrderWrites

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def _product(db: Database, product_id: str = "cola", stock: int = 5, **values: Any) -> None:
    async with db.session() as session, session.begin():
        session.add(
            Product(
                id=product_id,
                name=values.pop("name", product_id.title()),
                price=values.pop("price", 7000),
                stock=stock,
                image_url=None,
                active=values.pop("active", True),
                **values,
            )
        )


async def _order(
    db: Database, order_id: str, *, status: str = "pending", due: datetime | None
) -> None:
    async with db.session() as session, session.begin():
        session.add(order_row(order_id, at=NOW, status=status, next_check_at=due))


async def _payment(
    db: Database,
    order_id: str,
    status: str,
    *,
    payment_type: str = "qris",
    instructions: dict[str, Any] | None = None,
) -> None:
    """The order's Midtrans payment, as the gateway last reported it (`status`)."""
    async with db.session() as session, session.begin():
        row = payment_row(
            order_id, at=NOW, status=status, payment_type=payment_type, instructions=instructions
        )
        session.add(row)


async def _stock(db: Database, product_id: str = "cola") -> int:
    async with db.session() as session:
        product = await session.get(Product, product_id)
    assert product is not None
    return product.stock


# -- migrations -------------------------------------------------------------------------------------


async def test_the_migrated_schema_equals_the_models(database: Database) -> None:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        differences = await connection.run_sync(compare)

    assert differences == []


def test_upgrading_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    upgrade(database_url)  # already at head: a no-op, not an error

    async def tables() -> set[str]:
        db = Database(database_url)
        try:
            async with db.engine.connect() as connection:
                return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await db.close()

    found = asyncio.run(tables())
    assert set(Base.metadata.tables) | {"alembic_version"} == found


# -- stock ----------------------------------------------------------------------------------------


async def test_concurrent_takes_never_oversell(database: Database) -> None:
    await _product(database, stock=5)

    async def buy() -> bool:
        async with database.session() as session, session.begin():
            return await repo.take_stock(session, "cola", 1) is not None

    results = await asyncio.gather(*(buy() for _ in range(20)))

    assert results.count(True) == 5
    assert await _stock(database) == 0


async def test_take_stock_refuses_too_many_unknown_and_inactive(database: Database) -> None:
    await _product(database, stock=2)
    await _product(database, "old", stock=9, active=False)

    async with database.session() as session, session.begin():
        assert await repo.take_stock(session, "cola", 3) is None
        assert await repo.take_stock(session, "nope", 1) is None
        assert await repo.take_stock(session, "old", 1) is None
        taken = await repo.take_stock(session, "cola", 2)

    assert taken is not None
    assert (taken.id, taken.price) == ("cola", 7000)
    assert await _stock(database) == 0
    assert await _stock(database, "old") == 9


async def test_give_back_stock_returns_each_line(database: Database) -> None:
    await _product(database, stock=1)
    await _product(database, "lemon", stock=0, price=10000)
    await _order(database, "o-1", due=None)
    items = [
        OrderItem(order_id="o-1", product_id="cola", name="Cola", price=7000, quantity=2),
        OrderItem(order_id="o-1", product_id="lemon", name="Lemon", price=10000, quantity=3),
    ]
    async with database.session() as session, session.begin():
        session.add_all(items)

    async with database.session() as session, session.begin():
        await repo.give_back_stock(session, None, await repo.items_of(session, "o-1"))

    assert (await _stock(database), await _stock(database, "lemon")) == (3, 3)


# -- the inbox -------------------------------------------------------------------------------------


def _notification(key: str) -> dict[str, Any]:
    return notification_row(key, at=NOW)


async def test_the_inbox_keeps_one_row_per_dedupe_key(database: Database) -> None:
    store = InboxStore(database)

    ids = await asyncio.gather(*(store.keep(_notification("same")) for _ in range(5)))
    other = await store.keep(_notification("other"))

    assert len([i for i in ids if i is not None]) == 1
    assert other is not None
    assert other not in ids
    async with database.session() as session:
        count = (await session.execute(select(func.count()).select_from(Notification))).scalar()
        assert await repo.notification_outcome(session, "same") == "received"
    assert count == 2
    assert (await store.look("same", None)).seen
    assert not (await store.look("new", None)).seen


async def test_the_inbox_reads_the_order_and_flags_it_with_the_row_only(database: Database) -> None:
    store = InboxStore(database)
    await _order(database, "o-1", due=None)
    await _payment(database, "o-1", "pending")

    look = await store.look("k-1", "o-1")
    first = await store.keep(_notification("k-1"), flag="o-1", at=NOW + timedelta(seconds=30))
    again = await store.keep(_notification("k-1"), flag="o-1", at=NOW + timedelta(seconds=5))
    later = await store.keep(_notification("k-2"), flag="o-1", at=NOW + timedelta(minutes=5))

    assert not look.seen
    assert look.order is not None
    assert look.payment is not None
    assert (look.order.status, look.order.gross_amount, look.order.currency) == (
        "pending",
        7000,
        "IDR",
    )
    assert look.order.expires_at == NOW + timedelta(minutes=15)
    assert (look.payment.status, look.payment.refunded_amount) == ("pending", 0)
    assert first is not None
    assert again is None
    assert later is not None
    async with database.session() as session:
        order = await session.get(Order, "o-1")
    assert order is not None
    # Flagged by the row that was kept, not by the duplicate, and never put off by a later one.
    assert order.next_check_at == NOW + timedelta(seconds=30)
    assert (await store.look("k-1", "nobody")) == Look(seen=True, order=None, payment=None)


# -- claiming due orders ---------------------------------------------------------------------------


async def test_claim_takes_only_due_orders_and_leases_them(database: Database) -> None:
    await _order(database, "due-1", due=NOW - timedelta(seconds=5))
    await _order(database, "due-2", due=NOW, status="review")
    await _order(database, "later", due=NOW + timedelta(seconds=5))
    # A closed order is checked when flagged (a notification not confirmed, a refund unknown).
    await _order(database, "flagged", due=NOW - timedelta(seconds=1), status="paid")
    await _order(database, "never", due=None)
    await _order(database, "paid", due=None, status="paid")
    lease = timedelta(seconds=60)

    async with database.session() as session, session.begin():
        claimed = await repo.claim_due_orders(session, NOW, lease, 10)

    assert claimed == ["due-1", "flagged", "due-2"]  # oldest check first
    async with database.session() as session:
        for order_id in claimed:
            order = await session.get(Order, order_id)
            assert order is not None
            assert (order.next_check_at, order.check_attempts) == (NOW + lease, 1)
    async with database.session() as session, session.begin():
        assert await repo.claim_due_orders(session, NOW, lease, 10) == []


async def test_concurrent_claims_never_take_the_same_order(database: Database) -> None:
    for n in range(8):
        await _order(database, f"o-{n}", due=NOW - timedelta(seconds=n))

    async def claim() -> list[str]:
        async with database.session() as session, session.begin():
            ids = await repo.claim_due_orders(session, NOW, timedelta(seconds=60), 3)
            await asyncio.sleep(0.05)  # hold the claim open while the others try
            return ids

    claims = await asyncio.gather(*(claim() for _ in range(4)))

    claimed = [order_id for ids in claims for order_id in ids]
    assert len(claimed) == len(set(claimed)) == 8


async def test_lock_order_of_an_unknown_order_is_none(database: Database) -> None:
    async with database.session() as session, session.begin():
        assert await repo.lock_order(session, "nope") is None


async def test_lock_order_with_payment_reads_both_at_once(database: Database) -> None:
    await _order(database, "o-paid", due=None)
    await _payment(database, "o-paid", "settlement")
    await _order(database, "o-bare", due=None)
    statements: list[str] = []

    def seen(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with database.transaction() as tx:
            locked = await repo.lock_order_with_payment(tx.conn, "o-paid")
            assert locked is not None
            order, payment = locked
            assert (order.id, order.status, order.machine_id) == ("o-paid", "pending", None)
            assert payment is not None
            assert (payment.status, payment.gateway) == ("settlement", "midtrans")
            reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
            assert len(reads) == 1
            assert "payments" in reads[0]
        async with database.transaction() as tx:
            bare = await repo.lock_order_with_payment(tx.conn, "o-bare")
            assert bare is not None
            assert bare[0].id == "o-bare"
            assert bare[1] is None
            assert await repo.lock_order_with_payment(tx.conn, "nope") is None
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    if database.url.startswith("postgresql"):
        assert any("FOR UPDATE OF orders" in text for text in statements)


async def test_the_quick_lock_reads_what_the_engine_reads(database: Database) -> None:
    """On a quick run's plain asyncpg connection the read (no lock, the rows' versions noted)
    gives the same values as the locked read through SQLAlchemy's, a payment's JSON
    instructions included."""
    instructions = {"va_numbers": [{"bank": "bca", "va_number": "12345"}], "note": "Rp 7.000"}
    await _order(database, "o-va", due=None)
    await _payment(
        database, "o-va", "pending", payment_type="bank_transfer", instructions=instructions
    )

    async def lock(tx: Tx) -> Any:
        return await repo.lock_order_with_payment(tx.conn, "o-va")

    quick = await database.quick(lock)
    async with database.transaction() as tx:
        engine = await lock(tx)
    assert quick == engine
    assert quick is not None
    assert quick[1] is not None
    assert quick[1].instructions == instructions


async def test_an_apply_s_writes_go_together(database: Database) -> None:
    await _order(database, "o-move", due=NOW)
    await _order(database, "o-open", due=NOW)
    await _payment(database, "o-move", "pending")
    row = await InboxStore(database).keep(_notification("k-move"))
    assert row is not None
    later = NOW + timedelta(seconds=5)
    writes = OrderWrites("o-move")
    writes.payment({"status": "settlement"}, later)
    writes.done_checking()  # implied by the move that follows
    writes.move("paid", later, checked=True)
    writes.event(
        before="pending",
        after="paid",
        event="payment_succeeded",
        source="webhook",
        note=None,
        at=later,
    )
    writes.outcome(row, "applied")
    calls = [
        GatewayCallRow("o-move", "status", "ok", None, 12, later),
        GatewayCallRow("o-move", "refund", "rejected", "412: no", 30, later),
    ]
    writes.gateway_calls(calls)
    writes.gateway_calls([])  # nothing to add: not a second part
    statements: list[str] = []
    uncached: list[str] = []

    def seen(
        conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        statements.append(statement)
        # Without a cache key a statement is compiled again on every run: a multi-row VALUES
        # did that to every settlement, at a millisecond of CPU each. (PostgreSQL's is sent as
        # driver SQL, compiled once by `storage.prepared`: no compiled statement here.)
        compiled_now = context.compiled is not None
        if compiled_now and context.cache_hit is CacheStats.NO_CACHE_KEY:
            uncached.append(statement)

    engine = database.engine.sync_engine
    async with database.transaction() as tx:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            await writes.flush(tx.conn)
            await writes.flush(tx.conn)  # nothing is left to send
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        still_open = OrderWrites("o-open")
        still_open.move("review", later, checked=False)
        await still_open.flush(tx.conn)
    # PostgreSQL: one round trip (each write a CTE); SQLite: one statement each.
    sent = [text for text in statements if not text.startswith("BEGIN")]
    assert len(sent) == (1 if database.url.startswith("postgresql") else 6)
    assert uncached == []
    async with database.session() as session:
        moved = await session.get(Order, "o-move")
        reopened = await session.get(Order, "o-open")
        payment = await session.get(Payment, "o-move")
        history = await repo.history_of(session, "o-move")
        outcome = await repo.notification_outcome(session, "k-move")
        audited = await repo.gateway_calls_of(session, "o-move")
    assert moved is not None
    assert reopened is not None
    assert payment is not None
    assert (moved.status, moved.version, moved.next_check_at) == ("paid", 2, None)
    assert (reopened.status, reopened.version, reopened.next_check_at) == ("review", 2, NOW)
    # Only the fields asked for change.
    assert (payment.status, payment.payment_type, payment.updated_at) == (
        "settlement",
        "qris",
        later,
    )
    assert [(e.from_status, e.to_status, e.ignored) for e in history] == [
        ("pending", "paid", False)
    ]
    assert outcome == "applied"
    # Rows written together take their ids in no set order (the timeline reads them by time).
    assert {
        GatewayCallRow(c.order_id, c.operation, c.outcome, c.detail, c.duration_ms, c.at)
        for c in audited
    } == set(calls)


def test_writes_refuse_a_payment_field_no_report_sets_and_a_second_move() -> None:
    writes = OrderWrites("o-guard")
    with pytest.raises(ValueError, match="order_id"):
        writes.payment({"order_id": "o-other"}, NOW)
    writes.move("paid", NOW, checked=True)
    with pytest.raises(ValueError, match="one move"):
        writes.move("refunded", NOW, checked=True)


async def test_done_checking_clears_only_a_closed_order(database: Database) -> None:
    await _order(database, "o-closed", status="paid", due=NOW)
    await _order(database, "o-pending", due=NOW)
    async with database.transaction() as tx:
        for order_id in ("o-closed", "o-pending"):
            writes = OrderWrites(order_id)
            writes.done_checking()
            await writes.flush(tx.conn)
    async with database.session() as session:
        closed = await session.get(Order, "o-closed")
        pending = await session.get(Order, "o-pending")
    assert closed is not None
    assert pending is not None
    assert (closed.next_check_at, pending.next_check_at) == (None, NOW)


async def test_count_by_status(database: Database) -> None:
    for n, status in enumerate(["pending", "paid", "paid", "expired"]):
        await _order(database, f"o-{n}", status=status, due=None)

    async with database.session() as session:
        assert await repo.count_by_status(session) == {"pending": 1, "paid": 2, "expired": 1}


# -- times ----------------------------------------------------------------------------------------


async def test_times_are_stored_in_utc_and_read_back_aware(database: Database) -> None:
    wib = timezone(timedelta(hours=7))
    await _order(database, "o-1", due=datetime(2026, 5, 1, 19, 0, tzinfo=wib))

    async with database.session() as session:
        order = await session.get(Order, "o-1")

    assert order is not None
    assert order.next_check_at is not None
    assert order.next_check_at == NOW
    assert order.next_check_at.utcoffset() == timedelta(0)


async def test_a_naive_time_is_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await _order(database, "o-1", due=datetime(2026, 5, 1, 12, 0))


async def _refund(db: Database, order_id: str, key: str, status: str, at: datetime) -> None:
    async with db.session() as session, session.begin():
        session.add(
            Refund(
                order_id=order_id,
                refund_key=key,
                amount=7000,
                reason="r",
                status=status,
                created_at=at,
                updated_at=at,
            )
        )


async def test_needing_attention_lists_late_payments_manual_and_unsettled_refunds(
    database: Database,
) -> None:
    for order_id, status in (("late", "expired"), ("manual", "paid"), ("lost", "paid")):
        await _order(database, order_id, status=status, due=None)
    await _order(database, "fine", status="refunded", due=None)
    await _refund(database, "late", "late-late", "succeeded", NOW)
    await _refund(database, "manual", "k-manual", "manual", NOW + timedelta(seconds=1))
    await _refund(database, "lost", "k-lost", "unknown", NOW + timedelta(seconds=2))
    await _refund(database, "fine", "k-fine", "succeeded", NOW + timedelta(seconds=3))

    async with database.session() as session:
        found = await repo.needing_attention(session)
        unsettled = await repo.orders_with_unsettled_refunds(session, NOW + timedelta(hours=1), 10)
        none_yet = await repo.orders_with_unsettled_refunds(session, NOW, 10)

    assert [(a.order_id, a.kind, a.refund_status, a.order_status) for a in found] == [
        ("lost", "unsettled_refund", "unknown", "paid"),
        ("manual", "manual_refund", "manual", "paid"),
        ("late", "late_payment", "succeeded", "expired"),
    ]
    assert unsettled == ["lost"]
    assert none_yet == []


async def test_one_create_call_claims_a_payment(database: Database) -> None:
    await _order(database, "o-1", due=None)
    await _payment(database, "o-1", "unknown", payment_type="snap")

    async def claim(now: datetime) -> bool:
        async with database.session() as session, session.begin():
            return await repo.claim_payment_call(
                session, "o-1", ("unknown",), now, stale_before=now - timedelta(minutes=2)
            )

    assert [await claim(NOW) for _ in range(3)] == [True, False, False]
    # The claim's holder died mid-call: after the lease another may take it over.
    assert await claim(NOW + timedelta(minutes=1)) is False
    assert await claim(NOW + timedelta(minutes=3)) is True


async def test_an_unsettled_refund_is_leased_to_one_worker(database: Database) -> None:
    await _order(database, "o-1", status="paid", due=None)
    await _refund(database, "o-1", "k-1", "unknown", NOW)
    await _refund(database, "o-1", "k-2", "succeeded", NOW)
    later = NOW + timedelta(minutes=5)

    async def lease() -> list[str]:
        async with database.session() as session, session.begin():
            stale = later - timedelta(minutes=2)
            leased = await repo.lease_unsettled_refunds(session, "o-1", stale, later)
            return [r.refund_key for r in leased]

    assert sorted(await asyncio.gather(lease(), lease())) == [[], ["k-1"]]
