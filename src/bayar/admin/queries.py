"""What the admin pages read, in the pages' terms: WIB days, pages of orders, the dashboard's
periods and bars, machines with their presence. The statements are the storage layer's
(bayar.storage.sales, order_lists, refund_queue, slots); the catalog is bayar.payments.catalog's
and a manual refund done by hand the payments service's (`refunded_by_hand`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from bayar.admin.chart import Bar
from bayar.i18n import N_
from bayar.payments.errors import PaymentError
from bayar.payments.refunds import BY_HAND
from bayar.payments.states import OPEN, Status
from bayar.storage import order_lists, refund_queue, sales, slots
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.order_lists import OrderQuery, OrderRow
from bayar.storage.refund_queue import ManualRefund
from bayar.storage.slots import RestockRefused, SlotStock
from bayar.storage.snapshots import OrderSnapshot
from bayar.vending.presence import Presence
from bayar.vending.service import RECENT

WIB = timezone(timedelta(hours=7), "WIB")
PAGE_SIZE = 25
CHANNELS = ("shop", "kiosk", "api")
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

    def storage_query(self) -> OrderQuery:
        """The orders these filters match, WIB days as UTC moments."""
        return OrderQuery(
            status=self.status,
            channel=self.channel,
            machine=self.machine,
            created_from=day_start(self.date_from) if self.date_from else None,
            created_before=day_start(self.date_to + timedelta(days=1)) if self.date_to else None,
            id_contains=self.q,
        )


async def list_orders(db: Database, filters: OrderFilters) -> tuple[list[OrderRow], int]:
    """One page of the orders matching the filters, newest first, and how many match in all."""
    return await order_lists.list_orders(
        db,
        filters.storage_query(),
        offset=(max(filters.page, 1) - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )


async def machine_choices(db: Database) -> list[tuple[str, str]]:
    return await order_lists.machine_choices(db)


async def manual_refund_count(db: Database) -> int:
    return await sales.manual_refund_count(db)


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
    newest: list[OrderSnapshot] = field(default_factory=list)
    # "Needs attention": late payments (refunded or queued), manual refunds, unknown outcomes.
    attention: list[repo.Attention] = field(default_factory=list)


async def sales_summary(db: Database, now: datetime, *, chart_days: int = 14) -> Summary:
    """Paid revenue (counted when an order became paid), refunds (when they succeeded), per WIB
    day: today, the last 7 and 30 days, and one bar per day of the last `chart_days`."""
    today = wib_day(now)
    first = today - timedelta(days=max(29, chart_days - 1))
    figures = await sales.sales_figures(
        db,
        day_start(first),
        settled_attention_since=now - timedelta(days=ATTENTION_DAYS),
        attention_limit=ATTENTION_LIMIT,
    )
    paid_rows = [(wib_day(m.at), m.amount) for m in figures.paid]
    refund_rows = [(wib_day(m.at), m.amount) for m in figures.refunded]
    periods = []
    for label, days in ((N_("Today"), 1), (N_("Last 7 days"), 7), (N_("Last 30 days"), 30)):
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
    by_status = figures.by_status
    order = [s.value for s in Status]
    statuses = sorted(
        by_status.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
    )
    return Summary(
        periods=periods,
        bars=bars,
        by_status=statuses,
        open_orders=sum(by_status.get(s, 0) for s in OPEN),
        manual_refunds=figures.manual_refunds,
        total_orders=sum(by_status.values()),
        chart_days=chart_days,
        newest=figures.newest,
        attention=figures.attention,
    )


# -- machines -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineView:
    id: str
    name: str
    location: str | None
    active: bool
    online: bool
    last_seen_at: datetime | None
    slots: list[SlotStock]

    @property
    def empty_slots(self) -> int:
        return sum(1 for s in self.slots if s.stock <= 0)


async def machines(db: Database, presence: Presence, now: datetime) -> list[MachineView]:
    return [
        MachineView(
            id=m.id,
            name=m.name,
            location=m.location,
            active=m.active,
            online=await presence.online(m.id),
            last_seen_at=m.last_seen_at,
            slots=m.slots,
        )
        for m in await slots.machines_stock(db, now, RECENT)
    ]


async def restock(
    db: Database, machine_id: str, code: str, on_hand: int, now: datetime
) -> SlotStock:
    """Set a slot to `on_hand` units on hand (bayar.storage.slots.restock); AdminError when the
    slot does not exist or cannot hold that many."""
    try:
        return await slots.restock(db, machine_id, code, on_hand, now, RECENT)
    except RestockRefused as refused:
        if refused.capacity is None:
            raise AdminError(
                N_("machine %(machine)s has no slot %(slot)s"), machine=machine_id, slot=code
            ) from None
        raise AdminError(
            N_("slot %(slot)s holds between 0 and %(most)s units"),
            slot=code,
            most=refused.capacity,
        ) from None


# -- the manual-refund queue ----------------------------------------------------------------------


async def manual_refunds(
    db: Database, *, resolved_limit: int = 10
) -> tuple[list[ManualRefund], list[ManualRefund]]:
    """Every refund waiting for a person (shop and kiosk alike: a late payment the gateway cannot
    refund, a kiosk unit whose refund it refused), oldest first, and the latest ones marked as
    refunded by hand."""
    return await refund_queue.manual_refunds(db, by_hand=BY_HAND, resolved_limit=resolved_limit)
