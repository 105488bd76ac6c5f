"""What the admin pages read and the few things they write besides the payments service: slot
stock. (The catalog's products are bayar.payments.catalog's; a manual refund done by hand is the
payments service's: `PaymentsService.refunded_by_hand`.)

Stock is "units free to sell": an open order has already taken its units out. So an admin types the
units *on hand* (in the slot, in the warehouse) and the free stock becomes on hand minus the units
held by open orders, under the row's lock, so a restock never gives away a reserved unit.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bayar.admin.chart import Bar
from bayar.payments.errors import PaymentError
from bayar.payments.refunds import BY_HAND
from bayar.payments.service import LATE_REFUND_PREFIX
from bayar.payments.states import OPEN, Status
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import (
    AdminSession,
    Dispense,
    Machine,
    Order,
    OrderEvent,
    OrderItem,
    Payment,
    Product,
    Refund,
    Slot,
)
from bayar.vending.presence import Presence
from bayar.vending.service import RECENT

WIB = timezone(timedelta(hours=7), "WIB")
PAGE_SIZE = 25
CHANNELS = ("shop", "kiosk", "api")
# A paid kiosk order whose drink has not come out yet still has its unit in the slot.
IN_FLIGHT_DISPENSE = ("pending", "commanded")
MANUAL = "manual"  # a refund's status while it waits for a person
# How long a late payment whose refund is settled stays on the dashboard's "needs attention".
ATTENTION_DAYS = 7
ATTENTION_LIMIT = 20


class AdminError(PaymentError):
    """A refused admin change, shown to the admin as a message."""

    http_status = 422


def wib_day(moment: datetime) -> date:
    return moment.astimezone(WIB).date()


def day_start(day: date) -> datetime:
    """Midnight WIB of `day`, as an aware UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=WIB).astimezone(UTC)


# -- orders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilters:
    status: str = ""
    channel: str = ""
    machine: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    page: int = 1

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (the empty ones left out)."""
        values: dict[str, Any] = {
            "status": self.status,
            "channel": self.channel,
            "machine": self.machine,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q,
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        return bool(self.query(page=""))


@dataclass(frozen=True)
class OrderRow:
    order: Order
    items: str
    payment: Payment | None = None


def _filtered(filters: OrderFilters) -> Select[Order]:
    statement = select(Order)
    if filters.status:
        statement = statement.where(Order.status == filters.status)
    if filters.channel:
        statement = statement.where(Order.channel == filters.channel)
    if filters.machine:
        statement = statement.where(Order.machine_id == filters.machine)
    if filters.date_from:
        statement = statement.where(Order.created_at >= day_start(filters.date_from))
    if filters.date_to:
        statement = statement.where(
            Order.created_at < day_start(filters.date_to + timedelta(days=1))
        )
    if filters.q:
        escaped = filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(Order.id.ilike(f"%{escaped}%", escape="\\"))
    return statement


async def list_orders(db: Database, filters: OrderFilters) -> tuple[list[OrderRow], int]:
    """One page of the orders matching the filters, newest first, and how many match in all."""
    statement = _filtered(filters)
    async with db.session() as session:
        total = (
            await session.execute(select(func.count()).select_from(statement.subquery()))
        ).scalar_one()
        orders = (
            (
                await session.execute(
                    statement.order_by(Order.created_at.desc(), Order.id.desc())
                    .limit(PAGE_SIZE)
                    .offset((max(filters.page, 1) - 1) * PAGE_SIZE)
                )
            )
            .scalars()
            .all()
        )
        lines: dict[str, list[str]] = defaultdict(list)
        payments: dict[str, Payment] = {}
        if orders:
            items = await session.execute(
                select(OrderItem)
                .where(OrderItem.order_id.in_([o.id for o in orders]))
                .order_by(OrderItem.id)
            )
            for item in items.scalars():
                lines[item.order_id].append(f"{item.quantity}× {item.name}")
            found = await session.execute(
                select(Payment).where(Payment.order_id.in_([o.id for o in orders]))
            )
            payments = {p.order_id: p for p in found.scalars()}
    return [OrderRow(o, ", ".join(lines[o.id]), payments.get(o.id)) for o in orders], int(total)


async def manual_refund_count(session: AsyncSession) -> int:
    """Refunds waiting for a person (the manual-refund queue, shop and kiosk alike)."""
    count = await session.execute(
        select(func.count()).select_from(Refund).where(Refund.status == MANUAL)
    )
    return int(count.scalar_one())


async def machine_choices(db: Database) -> list[tuple[str, str]]:
    async with db.session() as session:
        rows = await session.execute(select(Machine.id, Machine.name).order_by(Machine.id))
        return [(mid, name) for mid, name in rows.all()]


# -- the dashboard --------------------------------------------------------------------------------


@dataclass
class Period:
    label: str
    paid: int = 0
    paid_count: int = 0
    refunded: int = 0
    refund_count: int = 0

    @property
    def net(self) -> int:
        return self.paid - self.refunded


@dataclass
class Summary:
    periods: list[Period]
    bars: list[Bar]
    by_status: list[tuple[str, int]]
    open_orders: int
    manual_refunds: int
    total_orders: int
    chart_days: int = 14
    newest: list[Order] = field(default_factory=list)
    # "Needs attention": late payments (refunded or queued), manual refunds, unknown outcomes.
    attention: list[repo.Attention] = field(default_factory=list)


async def sales_summary(db: Database, now: datetime, *, chart_days: int = 14) -> Summary:
    """Paid revenue (counted when an order became paid), refunds (when they succeeded), per WIB
    day: today, the last 7 and 30 days, and one bar per day of the last `chart_days`."""
    today = wib_day(now)
    first = today - timedelta(days=max(29, chart_days - 1))
    since = day_start(first)
    async with db.session() as session:
        paid = await session.execute(
            select(OrderEvent.at, Order.gross_amount)
            .join(Order, Order.id == OrderEvent.order_id)
            .where(
                OrderEvent.to_status == Status.PAID.value,
                OrderEvent.from_status.in_(OPEN),
                OrderEvent.ignored.is_(False),
                OrderEvent.at >= since,
            )
        )
        paid_rows = [(wib_day(at), amount) for at, amount in paid.all()]
        refunds = await session.execute(
            select(Refund.updated_at, Refund.amount).where(
                Refund.status == "succeeded",
                Refund.updated_at >= since,
                # A late payment's refund gives back money never counted as paid revenue.
                ~Refund.refund_key.startswith(LATE_REFUND_PREFIX, autoescape=True),
            )
        )
        refund_rows = [(wib_day(at), amount) for at, amount in refunds.all()]
        by_status = await repo.count_by_status(session)
        manual = await manual_refund_count(session)
        attention = await needing_attention(session, now)
        newest = (
            (await session.execute(select(Order).order_by(Order.created_at.desc()).limit(6)))
            .scalars()
            .all()
        )
    periods = []
    for label, days in (("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30)):
        start = today - timedelta(days=days - 1)
        period = Period(label)
        for day, amount in paid_rows:
            if day >= start:
                period.paid += amount
                period.paid_count += 1
        for day, amount in refund_rows:
            if day >= start:
                period.refunded += amount
                period.refund_count += 1
        periods.append(period)
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for day, amount in paid_rows:
        per_day[day][0] += amount
        per_day[day][1] += 1
    bars = []
    for offset in range(chart_days - 1, -1, -1):
        day = today - timedelta(days=offset)
        amount, count = per_day.get(day, [0, 0])
        bars.append(Bar(day, amount, count, today=day == today))
    order = [s.value for s in Status]
    statuses = sorted(
        by_status.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
    )
    return Summary(
        periods=periods,
        bars=bars,
        by_status=statuses,
        open_orders=sum(by_status.get(s, 0) for s in OPEN),
        manual_refunds=int(manual),
        total_orders=sum(by_status.values()),
        chart_days=chart_days,
        newest=list(newest),
        attention=attention,
    )


async def needing_attention(session: AsyncSession, now: datetime) -> list[repo.Attention]:
    """The core's "needs attention" list as the dashboard shows it: everything still waiting
    (a person's refund, a refund whose outcome is unknown), and late payments whose refund is
    settled for `ATTENTION_DAYS`."""
    since = now - timedelta(days=ATTENTION_DAYS)
    return [
        item
        for item in await repo.needing_attention(session, limit=100)
        if item.refund_status != "succeeded" or item.at >= since
    ][:ATTENTION_LIMIT]


# -- stock held by open orders --------------------------------------------------------------------


def _holds(status: str, dispense_status: str | None, created_at: datetime, now: datetime) -> bool:
    if status in OPEN:
        return True
    if status != Status.PAID.value:
        return False
    if dispense_status is None:
        return now - created_at < RECENT  # a paid kiosk order its machine has not claimed yet
    return dispense_status in IN_FLIGHT_DISPENSE


async def _slot_holds(
    session: AsyncSession, now: datetime, machine_id: str | None = None
) -> dict[tuple[str, str], int]:
    """Units per (machine, slot) still physically in the slot but promised to an order."""
    statement = (
        select(
            Order.machine_id,
            OrderItem.slot_code,
            OrderItem.quantity,
            Order.status,
            Dispense.status,
            Order.created_at,
        )
        .join(Order, Order.id == OrderItem.order_id)
        .outerjoin(Dispense, Dispense.order_id == Order.id)
        .where(
            OrderItem.slot_code.is_not(None),
            Order.machine_id.is_not(None),
            Order.status.in_((*OPEN, Status.PAID.value)),
        )
    )
    if machine_id is not None:
        statement = statement.where(Order.machine_id == machine_id)
    held: dict[tuple[str, str], int] = defaultdict(int)
    for machine, code, quantity, status, dispense, created in (
        await session.execute(statement)
    ).all():
        if machine is not None and code is not None and _holds(status, dispense, created, now):
            held[(machine, code)] += quantity
    return held


# -- machines -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotView:
    code: str
    product_id: str
    product_name: str
    image_url: str | None
    stock: int
    held: int
    capacity: int

    @property
    def on_hand(self) -> int:
        return self.stock + self.held


@dataclass(frozen=True)
class MachineView:
    id: str
    name: str
    location: str | None
    active: bool
    online: bool
    last_seen_at: datetime | None
    slots: list[SlotView]

    @property
    def empty_slots(self) -> int:
        return sum(1 for s in self.slots if s.stock <= 0)


async def machines(db: Database, presence: Presence, now: datetime) -> list[MachineView]:
    async with db.session() as session:
        rows = (await session.execute(select(Machine).order_by(Machine.id))).scalars().all()
        slots = await session.execute(
            select(Slot, Product)
            .join(Product, Product.id == Slot.product_id)
            .order_by(Slot.machine_id, Slot.code)
        )
        by_machine: dict[str, list[tuple[Slot, Product]]] = defaultdict(list)
        for slot, product in slots.all():
            by_machine[slot.machine_id].append((slot, product))
        held = await _slot_holds(session, now)
    views = []
    for machine in rows:
        views.append(
            MachineView(
                id=machine.id,
                name=machine.name,
                location=machine.location,
                active=machine.active,
                online=await presence.online(machine.id),
                last_seen_at=machine.last_seen_at,
                slots=[
                    SlotView(
                        code=slot.code,
                        product_id=product.id,
                        product_name=product.name,
                        image_url=product.image_url,
                        stock=slot.stock,
                        held=held.get((machine.id, slot.code), 0),
                        capacity=slot.capacity,
                    )
                    for slot, product in by_machine.get(machine.id, [])
                ],
            )
        )
    return views


async def restock(
    db: Database, machine_id: str, code: str, on_hand: int, now: datetime
) -> SlotView:
    """Set a slot to `on_hand` units (at most its capacity); its free stock is what open orders
    do not hold. The slot row is locked first, so a concurrent purchase is counted exactly once."""
    async with db.session() as session, session.begin():
        slot = (
            await session.execute(
                select(Slot)
                .where(Slot.machine_id == machine_id, Slot.code == code)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if slot is None:
            raise AdminError(f"machine {machine_id} has no slot {code}")
        if on_hand < 0 or on_hand > slot.capacity:
            raise AdminError(f"slot {code} holds between 0 and {slot.capacity} units")
        held = (await _slot_holds(session, now, machine_id)).get((machine_id, code), 0)
        slot.stock = max(0, on_hand - held)
        product = await session.get(Product, slot.product_id)
        return SlotView(
            code=code,
            product_id=slot.product_id,
            product_name=product.name if product else slot.product_id,
            image_url=None,
            stock=slot.stock,
            held=held,
            capacity=slot.capacity,
        )


# -- the manual-refund queue ----------------------------------------------------------------------


@dataclass(frozen=True)
class ManualRefund:
    """A refund a person must make (or made) by hand, with what the page says of its order."""

    refund_key: str
    order_id: str
    channel: str
    order_status: str
    machine_id: str | None
    machine_name: str | None
    amount: int
    items: str
    reason: str | None
    detail: str | None
    ordered_at: datetime
    since: datetime


async def manual_refunds(
    db: Database, *, resolved_limit: int = 10
) -> tuple[list[ManualRefund], list[ManualRefund]]:
    """Every refund waiting for a person (shop and kiosk alike: a late payment the gateway cannot
    refund, a kiosk unit whose refund it refused), oldest first, and the latest ones marked as
    refunded by hand."""
    async with db.session() as session:
        waiting = await _queue(session, Refund.status == MANUAL, oldest_first=True)
        resolved = await _queue(
            session,
            (Refund.status == "succeeded") & Refund.detail.startswith(BY_HAND, autoescape=True),
            oldest_first=False,
            limit=resolved_limit,
        )
    return waiting, resolved


async def _queue(
    session: AsyncSession, condition: Any, *, oldest_first: bool, limit: int | None = None
) -> list[ManualRefund]:
    when = Refund.updated_at if oldest_first else Refund.updated_at.desc()
    statement = (
        select(Refund, Order, Machine.name)
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(Machine, Machine.id == Order.machine_id)
        .where(condition)
        .order_by(when, Refund.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    rows = (await session.execute(statement)).all()
    ids = {refund.order_id for refund, _, _ in rows}
    lines: dict[str, list[str]] = defaultdict(list)
    if ids:
        for item in (
            await session.execute(
                select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.id)
            )
        ).scalars():
            lines[item.order_id].append(f"{item.quantity}× {item.name}")
    return [
        ManualRefund(
            refund_key=refund.refund_key,
            order_id=order.id,
            channel=order.channel,
            order_status=order.status,
            machine_id=order.machine_id,
            machine_name=name,
            amount=refund.amount,
            items=", ".join(lines[order.id]),
            reason=refund.reason,
            detail=refund.detail,
            ordered_at=order.created_at,
            since=refund.updated_at,
        )
        for refund, order, name in rows
    ]


# -- admin sessions ---------------------------------------------------------------------------------


async def open_session(
    db: Database, digest: str, password_tag: str, now: datetime, lifetime: timedelta
) -> None:
    """A new login (by its id's digest); sessions that are over are cleared away at the same time."""
    async with db.session() as session, session.begin():
        await session.execute(
            delete(AdminSession).where(
                or_(AdminSession.expires_at <= now, AdminSession.password_tag != password_tag)
            )
        )
        session.add(
            AdminSession(
                id_sha256=digest,
                password_tag=password_tag,
                created_at=now,
                expires_at=now + lifetime,
            )
        )


async def session_alive(db: Database, digest: str, password_tag: str, now: datetime) -> bool:
    """The login exists, has not run out, and was opened under today's password."""
    async with db.session() as session:
        found = await session.get(AdminSession, digest)
    return (
        found is not None
        and found.expires_at > now
        and hmac.compare_digest(found.password_tag, password_tag)
    )


async def end_session(db: Database, digest: str) -> None:
    async with db.session() as session, session.begin():
        await session.execute(delete(AdminSession).where(AdminSession.id_sha256 == digest))
