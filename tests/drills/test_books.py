"""The books themselves: they must see what the drills are there to catch (else every drill
passes for nothing). A ledger is broken by hand, below bayar, and the audit must say so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness import Bayar
from sqlalchemy import update

from bayar.storage.models import Order, Product

if TYPE_CHECKING:  # the fixtures' types; tests/drills is on the path, so its conftest is `conftest`
    from collections.abc import Awaitable, Callable

    from books import Books


async def set_status(bayar: Bayar, order_id: str, status: str) -> None:
    async with bayar.db.session() as session, session.begin():
        await session.execute(update(Order).where(Order.id == order_id).values(status=status))


async def test_the_books_balance_and_see_a_ledger_broken_by_hand(
    bayar: Bayar, open_books: Callable[[Bayar], Awaitable[Books]]
) -> None:
    books = await open_books(bayar)
    order_id = await bayar.create_order(("cola", 1))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    assert (await books.audit()).ok

    # bayar says refunded, the gateway says settled and gave nothing back.
    await set_status(bayar, order_id, "refunded")
    audit = await books.audit()
    assert audit.wrong == {order_id}
    assert audit.astray == 7000

    # bayar says pending while the gateway took the money: the settlement has no home.
    await set_status(bayar, order_id, "pending")
    audit = await books.audit()
    assert audit.wrong == {order_id}
    assert audit.astray == 7000

    # A unit appearing from nowhere.
    await set_status(bayar, order_id, "paid")
    async with bayar.db.session() as session, session.begin():
        await session.execute(
            update(Product).where(Product.id == "cola").values(stock=Product.stock + 1)
        )
    audit = await books.audit()
    assert not audit.ok
    assert not audit.wrong
    assert any("stock of product cola" in p for p in audit.problems), audit


async def test_the_books_see_a_paid_kiosk_unit_never_dispensed(
    bayar: Bayar, open_books: Callable[[Bayar], Awaitable[Books]]
) -> None:
    books = await open_books(bayar)
    order_id = await bayar.create_order(("cola", 1))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    async with bayar.db.session() as session, session.begin():
        await session.execute(update(Order).where(Order.id == order_id).values(channel="kiosk"))
    audit = await books.audit()
    assert audit.wrong == {order_id}
    assert audit.astray == 7000
