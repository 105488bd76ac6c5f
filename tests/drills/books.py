"""The books: after a drill, does bayar's ledger agree with the gateway's, and does every unit and
every rupiah have a home? Written once, used by every drill (tests/drills/conftest.py hands it out).

- **States**: each order's final status equals what the gateway says of it (its status API), mapped
  to bayar's words (`EXPECTED`). A closed order (expired, cancelled, failed) whose late payment was
  given back, or queued for a person to give back, agrees with a gateway that says settled/refunded.
- **Stock**: for every pool (a catalog product, or a machine's slot), free units + units held by
  orders that hold stock (every status but RELEASED) are what they were when the books were opened.
- **Dispenses**: a kiosk unit whose money bayar keeps was dispensed (once: one dispense row per
  order); a dispensed unit's money was not given back as well.
- **Money**: what the gateway settled = what bayar keeps + what the gateway refunded + what a person
  gave back by hand (refund rows `succeeded` that the gateway does not list) + what is queued for a
  manual refund. The queue is the refund rows `manual` alone: a kiosk unit whose refund the gateway
  refused has one too (its dispense's `manual_refund` is the machine's record of it, not counted
  again). What bayar keeps of a paid order is its amount less what it gave back or owes back. The
  difference, order by order, is the money astray. An order refunded by hand agrees with a gateway
  that still says settled. A refund the gateway accepted and has not finished (Xendit's PENDING,
  bayar's `pending`) gave nothing back yet: its money is still kept on both sides, and a kiosk
  unit's is not home until it is finished, so a drill lets the gateway finish its refunds (or
  fail them) before the books are read.

The gateway is read through `GatewayView` (order id → its status body, or None when the gateway has
no transaction): the in-process sandbox or the sandbox process of a fleet, with the server key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bayar.payments.states import PAID_LIKE, RELEASED, Status
from bayar.storage.db import Database
from bayar.storage.models import Dispense, Order, OrderItem, Product, Refund, Slot

GatewayView = Callable[[str], Awaitable[dict[str, Any] | None]]

CLOSED = frozenset(s.value for s in RELEASED)
KEPT = frozenset(s.value for s in PAID_LIKE)
# Midtrans transaction_status → the bayar statuses that agree with it (None: no transaction).
EXPECTED: dict[str | None, frozenset[str]] = {
    None: frozenset({"pending", *CLOSED}),  # never created at the gateway: no money either way
    "pending": frozenset({"pending", "review"}),
    "authorize": frozenset({"pending", "review"}),
    "capture": frozenset({"paid", "fulfilled"}),
    "settlement": frozenset({"paid", "fulfilled"}),
    "deny": frozenset({"failed"}),
    "failure": frozenset({"failed"}),
    "expire": frozenset({"expired"}),
    "cancel": frozenset({"cancelled"}),
    "refund": frozenset({"refunded"}),
    "chargeback": frozenset({"refunded"}),
    "partial_refund": frozenset({"partially_refunded"}),
    "partial_chargeback": frozenset({"partially_refunded"}),
}
# Statuses of a transaction whose money the gateway took (and may have given back since).
SETTLED = frozenset(
    {"capture", "settlement", "refund", "chargeback", "partial_refund", "partial_chargeback"}
)
# What a closed order may agree with: its late payment given back, or queued for a person.
LATE_PAYMENT = frozenset({"settlement", "capture", "refund", "chargeback"})
Pool = tuple[str, str, str]  # ("product", product_id, "") or ("slot", machine_id, slot_code)


def rupiah(text: Any) -> int:
    """Midtrans' "10000.00" as integer rupiah (never through a float)."""
    whole, _, cents = str(text).partition(".")
    assert not cents.strip("0"), f"not whole rupiah: {text!r}"
    return int(whole)


@dataclass
class Audit:
    """What the books found. `problems` says each disagreement in words, order by order."""

    orders: int = 0
    wrong: set[str] = field(default_factory=set)  # order ids whose final state is wrong
    astray: int = 0  # rupiah with no home
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = (
            f"{self.orders} orders, {len(self.wrong)} wrong final states, Rp {self.astray} astray"
        )
        return "\n  ".join([head, *self.problems])


@dataclass
class Books:
    db: Database
    gateway: GatewayView
    stock: dict[Pool, int]  # free + held units of each pool when the books were opened
    known: frozenset[str]  # orders that existed then (a shared fleet's earlier drills)

    @classmethod
    async def open(cls, db: Database, gateway: GatewayView) -> Books:
        stock, orders = await _stock_and_orders(db)
        return cls(db, gateway, stock, frozenset(orders))

    async def audit(self) -> Audit:
        audit = Audit()
        stock, orders = await _stock_and_orders(self.db)
        for pool in sorted(set(stock) | set(self.stock)):
            before, now = self.stock.get(pool, 0), stock.get(pool, 0)
            if before != now:
                audit.problems.append(
                    f"stock of {pool[0]} {'/'.join(p for p in pool[1:] if p)}: "
                    f"{before} units (free + held) at the start, {now} now"
                )
        mine = [o for o in orders.values() if o.id not in self.known]
        audit.orders = len(mine)
        async with self.db.session() as session:
            refunds = (await session.execute(select(Refund))).scalars().all()
            dispenses = {d.order_id: d for d in (await session.execute(select(Dispense))).scalars()}
        for order in sorted(mine, key=lambda o: o.id):
            own = [r for r in refunds if r.order_id == order.id]
            await self._order(audit, order, own, dispenses.get(order.id))
        return audit

    async def _order(
        self, audit: Audit, order: Order, refunds: list[Refund], dispense: Dispense | None
    ) -> None:
        def wrong(why: str) -> None:
            audit.wrong.add(order.id)
            audit.problems.append(f"{order.id} ({order.channel}, {order.status}): {why}")

        found = await self.gateway(order.id)
        said = None if found is None else str(found["transaction_status"])
        fraud = None if found is None else found.get("fraud_status")
        if said in ("capture", "settlement") and fraud == "challenge":
            said = "pending"  # a card in review: nothing settled yet
        if said in ("capture", "settlement") and fraud == "deny":
            said = "deny"
        taken = rupiah(found["gross_amount"]) if found is not None and said in SETTLED else 0
        given_back = rupiah(found.get("refund_amount", 0)) if found is not None else 0

        at_gateway = (
            set() if found is None else {r.get("refund_key") for r in found.get("refunds", [])}
        )
        succeeded = sum(r.amount for r in refunds if r.status == "succeeded")
        by_hand = sum(
            r.amount for r in refunds if r.status == "succeeded" and r.refund_key not in at_gateway
        )
        manual = sum(r.amount for r in refunds if r.status == "manual")
        kept = 0
        if order.status in KEPT:
            kept = order.gross_amount - succeeded - manual
        astray = taken - kept - given_back - by_hand - manual

        agrees = order.status in EXPECTED.get(said, frozenset())
        if not agrees and order.status in CLOSED and said in LATE_PAYMENT:
            agrees = astray == 0  # a late payment, given back or queued for a person
        if not agrees and by_hand and said in SETTLED:
            agrees = astray == 0  # given back by a person, outside the gateway
        if not agrees:
            wrong(f"the gateway says {said or 'nothing (no transaction)'}")
        undispensed = dispense is None or dispense.status != "dispensed"
        if order.channel == "kiosk" and kept and undispensed:
            state = "no dispense" if dispense is None else f"dispense {dispense.status}"
            wrong(f"Rp {kept} kept for a kiosk unit never dispensed ({state})")
            audit.astray += kept
        if dispense is not None and dispense.status == "manual_refund" and not manual:
            wrong("dispense in manual_refund, but no refund waits for a person")
        back = given_back + by_hand + manual
        if dispense is not None and dispense.status == "dispensed" and back:
            wrong("dispensed, and its money given back too")
        if astray:
            audit.astray += abs(astray)
            audit.problems.append(
                f"{order.id}: Rp {astray} astray (gateway took {taken}, refunded {given_back};"
                f" bayar keeps {kept}, given back by hand {by_hand}, queued for a person {manual})"
            )


async def _stock_and_orders(db: Database) -> tuple[dict[Pool, int], dict[str, Order]]:
    """Free + held units of every pool, and every order."""
    async with db.session() as session:
        products = (await session.execute(select(Product))).scalars().all()
        slots = (await session.execute(select(Slot))).scalars().all()
        orders = {o.id: o for o in (await session.execute(select(Order))).scalars()}
        items = (await session.execute(select(OrderItem))).scalars().all()
    stock: dict[Pool, int] = {("product", p.id, ""): p.stock for p in products}
    stock.update({("slot", s.machine_id, s.code): s.stock for s in slots})
    for item in items:
        order = orders[item.order_id]
        if Status(order.status).value in CLOSED:
            continue
        if item.slot_code is not None and order.machine_id is not None:
            pool: Pool = ("slot", order.machine_id, item.slot_code)
        else:
            pool = ("product", item.product_id, "")
        stock[pool] = stock.get(pool, 0) + item.quantity
    return stock, orders
