"""The books themselves: they must see what the drills are there to catch (else every drill
passes for nothing). A ledger is broken by hand, below bayar, and the audit must say so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness import Bayar
from sqlalchemy import update

from bayar.storage.models import Dispense, Order, Product
from bayar.vending.machines import create_machine

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


async def paid_kiosk_unit(bayar: Bayar, token: str) -> str:
    """A kiosk order paid (its dispense pending) whose unit then failed to come out and whose
    refund the gateway refused: its dispense `manual_refund`, as the sweep leaves it."""
    created = await bayar.client.post(
        "/api/payments/create-transaction",
        json={
            "items": [{"product_id": "cola", "quantity": 1}],
            "payment_type": "qris",
            "machine_id": "books-k1",
        },
        headers={"X-Kiosk-Token": token},
    )
    assert created.status_code == 201, created.text
    order_id: str = created.json()["order_id"]
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    async with bayar.db.session() as session, session.begin():
        await session.execute(
            update(Dispense).where(Dispense.order_id == order_id).values(status="manual_refund")
        )
    return order_id


async def test_a_kiosk_unit_queued_for_a_person_is_counted_once(
    bayar: Bayar, open_books: Callable[[Bayar], Awaitable[Books]]
) -> None:
    """The queue is the `manual` refund rows: a kiosk unit's is one of them, and its dispense's
    `manual_refund` is not counted again. One in `manual_refund` with no refund queued is seen."""
    token = await create_machine(bayar.db, "books-k1", "Books", "Lab", [("A1", "cola", 5, 5)])
    books = await open_books(bayar)
    order_id = await paid_kiosk_unit(bayar, token)
    audit = await books.audit()
    assert audit.wrong == {order_id}  # kept for a unit never dispensed, queued nowhere
    assert any("no refund waits for a person" in p for p in audit.problems), audit

    await bayar.context.payments.refunds.queue_manual_refund(
        order_id, refund_key=f"dispense-{order_id}", reason="jammed", detail="refused"
    )
    audit = await books.audit()
    assert audit.ok, audit

    # Given back by hand: the order is refunded, the gateway still says settled, and the books
    # find the money at home.
    await bayar.context.payments.refunds.refunded_by_hand(f"dispense-{order_id}", "cash")
    assert (await bayar.order(order_id))["status"] == "refunded"
    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "settlement"
    audit = await books.audit()
    assert audit.ok, audit
