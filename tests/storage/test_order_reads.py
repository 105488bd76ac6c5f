"""The storage reads and writes the edges and vending go through, on SQLite and PostgreSQL:
order lists (filters taken literally, pages), the machine registry, and a dispense claimed once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bayar.storage import dispenses, order_lists
from bayar.storage import machines as registry
from bayar.storage.db import Database
from bayar.storage.models import Order, OrderItem, Product
from bayar.storage.order_lists import OrderQuery

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def _orders(db: Database, *rows: tuple[str, str, str | None]) -> None:
    """(order id, status, machine) each a minute older than the one before, one item each."""
    async with db.session() as session, session.begin():
        session.add(Product(id="cola", name="Cola", price=7000, stock=10, image_url=None))
        for age, (order_id, status, machine) in enumerate(rows):
            session.add(
                Order(
                    id=order_id,
                    status=status,
                    channel="kiosk" if machine else "shop",
                    machine_id=machine,
                    gross_amount=7000,
                    currency="IDR",
                    payment_type="qris",
                    expires_at=NOW + timedelta(minutes=15),
                    created_at=NOW - timedelta(minutes=age),
                    updated_at=NOW,
                )
            )
            await session.flush()
            session.add(
                OrderItem(
                    order_id=order_id,
                    product_id="cola",
                    slot_code="A1" if machine else None,
                    name="Cola",
                    price=7000,
                    quantity=1,
                )
            )


async def test_an_order_list_takes_the_searched_text_literally(database: Database) -> None:
    await _orders(
        database, ("BYR-1_0", "pending", None), ("BYR-100", "paid", None), ("BYR-1%", "paid", None)
    )

    underscore, total = await order_lists.list_orders(
        database, OrderQuery(id_contains="1_"), offset=0, limit=10
    )
    percent, _ = await order_lists.list_orders(
        database, OrderQuery(id_contains="%"), offset=0, limit=10
    )

    assert [r.order.id for r in underscore] == ["BYR-1_0"]
    assert total == 1
    assert [r.order.id for r in percent] == ["BYR-1%"]
    assert underscore[0].items == "1× Cola"


async def test_an_order_list_pages_newest_first_and_counts_every_match(database: Database) -> None:
    await _orders(
        database,
        ("a", "paid", None),
        ("b", "pending", None),
        ("c", "paid", None),
        ("d", "paid", None),
    )

    page, total = await order_lists.list_orders(
        database, OrderQuery(status="paid"), offset=1, limit=1
    )

    assert ([r.order.id for r in page], total) == (["c"], 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        page[0].order.status = "refunded"  # type: ignore[misc]


async def test_the_registry_names_the_products_a_machine_would_lack(database: Database) -> None:
    await _orders(database)
    await registry.add_machine(database, "m-1", "Lobby", None, "d" * 64, [("A1", "cola", 5, 8)])

    found = await registry.machine(database, "m-1")

    assert found is not None
    assert found.active
    assert "d" * 64 not in repr(found)
    assert await registry.missing_products(database, ["tea", "cola", "kopi"]) == ["tea", "kopi"]
    assert await registry.set_active(database, "m-1", False)
    assert not await registry.set_active(database, "nobody", False)


async def test_a_dispense_is_claimed_by_one_socket(database: Database) -> None:
    await _orders(database, ("k-1", "paid", "m-1"))
    await registry.add_machine(database, "m-1", "Lobby", None, "d" * 64, [("A1", "cola", 5, 8)])
    async with database.session() as session, session.begin():
        dispenses.add_pending(session, "k-1", "m-1", "A1", NOW)

    claims = await asyncio.gather(
        *(
            dispenses.claim(database, "m-1", "k-1", f"socket-{n}", ("pending",), NOW)
            for n in range(4)
        )
    )
    elsewhere = await dispenses.claim(database, "m-2", "k-1", "socket-9", ("pending",), NOW)
    again = await dispenses.claim(database, "m-1", "k-1", "socket-5", ("pending", "commanded"), NOW)

    assert sum(1 for c in claims if c is not None) == 1
    assert elsewhere is None
    assert again is not None
    assert again.slot_code == "A1"
    assert await dispenses.status_of(database, "k-1") == "commanded"
