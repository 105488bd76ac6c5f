"""The queries the core needs, each one statement or a few, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, exists, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from bayar.payments.states import OPEN, PAID_LIKE, UNSETTLED_REFUNDS, RefundStatus
from bayar.storage import prepared
from bayar.storage.models import (
    GatewayCall,
    Notification,
    Order,
    OrderEvent,
    OrderItem,
    Payment,
    Product,
    Refund,
    Slot,
)
from bayar.storage.order_facts import FACTS, OrderFacts, PaymentFacts, facts_of


async def take_stock(session: AsyncSession, product_id: str, quantity: int) -> Product | None:
    """Take `quantity` units if that many are free; None when there are not (or no such product).
    One conditional UPDATE, so concurrent buyers can never take the same unit."""
    result = await session.execute(
        update(Product)
        .where(Product.id == product_id, Product.active.is_(True), Product.stock >= quantity)
        .values(stock=Product.stock - quantity)
        .returning(Product)
    )
    return result.scalar_one_or_none()


async def take_slot_stock(
    session: AsyncSession, machine_id: str, product_id: str, quantity: int
) -> tuple[Slot, Product] | None:
    """Take units from the machine's fullest slot holding the product; None if none has enough."""
    candidates = await session.execute(
        select(Slot.id)
        .join(Product, Product.id == Slot.product_id)
        .where(
            Slot.machine_id == machine_id,
            Slot.product_id == product_id,
            Slot.stock >= quantity,
            Product.active.is_(True),
        )
        .order_by(Slot.stock.desc(), Slot.code)
    )
    for slot_id in candidates.scalars().all():
        result = await session.execute(
            update(Slot)
            .where(Slot.id == slot_id, Slot.stock >= quantity)
            .values(stock=Slot.stock - quantity)
            .returning(Slot)
        )
        slot = result.scalar_one_or_none()
        if slot is not None:
            product = await session.get(Product, product_id)
            assert product is not None
            return slot, product
    return None


async def give_back_stock(
    session: AsyncSession, machine_id: str | None, items: Sequence[OrderItem]
) -> None:
    """An order's units back where they came from: a kiosk order's (`machine_id`) to its slots."""
    for item in sorted(items, key=lambda i: (i.product_id, i.slot_code or "")):
        if item.slot_code is not None and machine_id is not None:
            await session.execute(
                update(Slot)
                .where(Slot.machine_id == machine_id, Slot.code == item.slot_code)
                .values(stock=Slot.stock + item.quantity)
            )
        else:
            await session.execute(
                update(Product)
                .where(Product.id == item.product_id)
                .values(stock=Product.stock + item.quantity)
            )


# -- the catalog ------------------------------------------------------------------------------------
# An archived product is never active (bayar.payments.catalog keeps it so): every "on sale" test is
# `Product.active`, and archived products stay readable for the orders and reports that name them.


async def product(session: AsyncSession, product_id: str) -> Product | None:
    return await session.get(Product, product_id)


async def products(session: AsyncSession) -> Sequence[Product]:
    """The products on sale, cheapest first."""
    result = await session.execute(
        select(Product).where(Product.active.is_(True)).order_by(Product.price, Product.id)
    )
    return result.scalars().all()


async def catalog(session: AsyncSession, *, archived: bool = False) -> Sequence[Product]:
    """The owner's catalog: on sale and hidden products (and the archived ones when asked),
    by category, then cheapest first."""
    statement = select(Product)
    if not archived:
        statement = statement.where(Product.archived.is_(False))
    result = await session.execute(
        statement.order_by(
            Product.archived, func.coalesce(Product.category, ""), Product.price, Product.id
        )
    )
    return result.scalars().all()


async def lock_product(session: AsyncSession, product_id: str) -> Product | None:
    """The product, locked until the end of the transaction (its stock is changed under it)."""
    result = await session.execute(
        select(Product)
        .where(Product.id == product_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def units_held(session: AsyncSession, product_id: str | None = None) -> dict[str, int]:
    """Units per product taken by open shop and API orders (kiosk orders take slot stock)."""
    statement = (
        select(OrderItem.product_id, func.sum(OrderItem.quantity))
        .join(Order, Order.id == OrderItem.order_id)
        .where(OrderItem.slot_code.is_(None), Order.status.in_(OPEN))
        .group_by(OrderItem.product_id)
    )
    if product_id is not None:
        statement = statement.where(OrderItem.product_id == product_id)
    return {pid: int(total or 0) for pid, total in (await session.execute(statement)).all()}


async def set_product_picture(session: AsyncSession, product_id: str, url: str) -> bool:
    """False when there is no such product."""
    result = await session.execute(
        update(Product).where(Product.id == product_id).values(image_url=url).returning(Product.id)
    )
    return result.scalar_one_or_none() is not None


async def order_by_idempotency_key(session: AsyncSession, key: str) -> Order | None:
    result = await session.execute(select(Order).where(Order.idempotency_key == key))
    return result.scalar_one_or_none()


async def lock_order(session: AsyncSession, order_id: str) -> Order | None:
    """The order, locked until the end of the transaction (FOR UPDATE; SQLite's writer lock)."""
    result = await session.execute(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


_WITH_PAYMENT = FACTS.add_columns(Payment.instructions).where(Order.id == bindparam("order_id"))
_LOCK_WITH_PAYMENT = _WITH_PAYMENT.with_for_update(of=Order)
# Outside a transaction: no lock, the rows' versions instead (see `lock_order_with_payment`).
_READ_WITH_VERSIONS = _WITH_PAYMENT.add_columns(
    literal_column("orders.xmin"), literal_column("payments.xmin")
)


async def lock_order_with_payment(
    conn: prepared.Connection, order_id: str
) -> tuple[OrderFacts, PaymentFacts | None] | None:
    """`lock_order`, and its payment row in the same read (FOR UPDATE OF the order only), as
    plain values: what the apply decides is written by `OrderWrites`, not through the
    session's unit of work. Outside a transaction (`DriverConnection.unlocked`) nothing is
    locked: the rows' versions are noted instead, and the apply's write is guarded by them; rows
    read before the work began (`RowVersions.known`) are taken as they were, with no read."""
    versions = conn.unlocked if isinstance(conn, prepared.DriverConnection) else None
    if versions is None:
        rows = await prepared.execute(conn, _LOCK_WITH_PAYMENT, {"order_id": order_id})
        return facts_of(rows[0]) if rows else None
    known, versions.known = versions.known, None
    if known is not None and known.order.id == order_id:
        versions.order, versions.payment = known.order_version, known.payment_version
        return known.order, known.payment
    rows = await prepared.execute(conn, _READ_WITH_VERSIONS, {"order_id": order_id})
    if not rows:
        return None
    *facts, versions.order, versions.payment = rows[0]
    return facts_of(facts)


async def items_of(session: AsyncSession, order_id: str) -> Sequence[OrderItem]:
    result = await session.execute(
        select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
    )
    return result.scalars().all()


async def last_note(session: AsyncSession, order_id: str) -> str | None:
    """The note of the order's latest history entry."""
    result = await session.execute(
        select(OrderEvent.note)
        .where(OrderEvent.order_id == order_id)
        .order_by(OrderEvent.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def history_of(session: AsyncSession, order_id: str) -> Sequence[OrderEvent]:
    result = await session.execute(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return result.scalars().all()


async def refunds_of(session: AsyncSession, order_id: str) -> Sequence[Refund]:
    result = await session.execute(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
    )
    return result.scalars().all()


async def add_refund(
    session: AsyncSession,
    *,
    order_id: str,
    refund_key: str,
    amount: int,
    reason: str,
    status: str,
    now: datetime,
    detail: str | None = None,
) -> Refund:
    """A new refund row (the key is unique), flushed so its id is known."""
    refund = Refund(
        order_id=order_id,
        refund_key=refund_key,
        amount=amount,
        reason=reason,
        status=status,
        detail=detail,
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    await session.flush()
    return refund


async def refund_by_key(session: AsyncSession, refund_key: str) -> Refund | None:
    result = await session.execute(select(Refund).where(Refund.refund_key == refund_key))
    return result.scalar_one_or_none()


async def notifications_of(session: AsyncSession, order_id: str) -> Sequence[Notification]:
    result = await session.execute(
        select(Notification).where(Notification.order_id == order_id).order_by(Notification.id)
    )
    return result.scalars().all()


async def gateway_calls_of(session: AsyncSession, order_id: str) -> Sequence[GatewayCall]:
    result = await session.execute(
        select(GatewayCall).where(GatewayCall.order_id == order_id).order_by(GatewayCall.id)
    )
    return result.scalars().all()


async def payment_of(session: AsyncSession, order_id: str) -> Payment | None:
    return await session.get(Payment, order_id)


async def notification_outcome(session: AsyncSession, dedupe_key: str) -> str | None:
    result = await session.execute(
        select(Notification.outcome).where(Notification.dedupe_key == dedupe_key)
    )
    return result.scalar_one_or_none()


async def claim_due_orders(
    session: AsyncSession, now: datetime, lease: timedelta, limit: int
) -> list[str]:
    """Orders whose check is due, claimed for `lease` so other workers skip them
    (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer at a time anyway). Open orders
    are checked until they close; a closed one only when something may differ from the gateway
    (a notification not confirmed yet, a refund whose answer was lost)."""
    due = (
        select(Order.id)
        .where(Order.next_check_at <= now)
        .order_by(Order.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.execute(due)).scalars().all())
    if ids:
        await session.execute(
            update(Order)
            .where(Order.id.in_(ids))
            .values(next_check_at=now + lease, check_attempts=Order.check_attempts + 1)
        )
    return ids


async def flag_for_check(
    session: AsyncSession | AsyncConnection, order_id: str, at: datetime
) -> None:
    """Ask the worker to look at the order by `at` (sooner if it is due earlier already)."""
    await session.execute(
        update(Order)
        .where(
            Order.id == order_id,
            (Order.next_check_at.is_(None)) | (Order.next_check_at > at),
        )
        .values(next_check_at=at)
    )


async def claim_payment_call(
    session: AsyncSession,
    order_id: str,
    from_statuses: Sequence[str],
    now: datetime,
    *,
    stale_before: datetime | None = None,
) -> bool:
    """Compare-and-set the order's payment to "creating": the caller alone makes the gateway's
    create call. A "creating" payment last touched before `stale_before` (its process died
    mid-call) may be taken over too."""
    condition: ColumnElement[bool] = Payment.status.in_(list(from_statuses))
    if stale_before is not None:
        condition = condition | (
            (Payment.status == "creating") & (Payment.updated_at < stale_before)
        )
    result = await session.execute(
        update(Payment)
        .where(Payment.order_id == order_id, condition)
        .values(status="creating", updated_at=now)
        .returning(Payment.order_id)
    )
    return result.scalar_one_or_none() is not None


async def orders_with_unsettled_refunds(
    session: AsyncSession, before: datetime, limit: int
) -> list[str]:
    """Orders with a refund still unsettled (`requested`, `pending`, `unknown`) since before
    `before`: the gateway may have made it (its answer was lost), never heard of it (the process
    died), or be making it still (it may yet fail)."""
    result = await session.execute(
        select(Refund.order_id)
        .where(Refund.status.in_(sorted(UNSETTLED_REFUNDS)), Refund.updated_at <= before)
        .group_by(Refund.order_id)
        .order_by(func.min(Refund.updated_at))
        .limit(limit)
    )
    return list(result.scalars().all())


async def lease_unsettled_refunds(
    session: AsyncSession, order_id: str, before: datetime, now: datetime
) -> list[Refund]:
    """The order's refunds still unsettled since before `before`, touched now by
    compare-and-set: of two workers racing, each refund goes to one."""
    result = await session.execute(
        update(Refund)
        .where(
            Refund.order_id == order_id,
            Refund.status.in_(sorted(UNSETTLED_REFUNDS)),
            Refund.updated_at <= before,
        )
        .values(updated_at=now)
        .returning(Refund)
        .execution_options(populate_existing=True)
    )
    return sorted(result.scalars().all(), key=lambda r: r.id)


@dataclass(frozen=True)
class Attention:
    """Money a person should look at: `kind` is late_payment (paid after the order closed),
    manual_refund (queued for a person to refund by hand), unsettled_refund (the gateway's
    answer is not known yet, or it has not finished the refund) or failed_refund (the gateway
    failed it and nobody has refunded the order since)."""

    order_id: str
    order_status: str
    kind: str
    amount: int
    refund_key: str | None
    refund_status: str | None
    reason: str | None
    at: datetime


LATE_PAYMENT_PREFIX = "late-"


async def needing_attention(session: AsyncSession, limit: int = 100) -> list[Attention]:
    """Every late payment (whatever became of its refund) and every refund a person must make or
    that has no known outcome, newest first: the admin's "needs attention" list."""
    later = aliased(Refund)
    # A refund the gateway failed, on an order still paid, with no refund asked after it: the
    # money bayar meant to give back is still kept, and nobody may know.
    failed_and_not_redone = (
        (Refund.status == RefundStatus.FAILED)
        & Order.status.in_(sorted(PAID_LIKE))
        & ~exists().where(later.order_id == Refund.order_id, later.id > Refund.id)
    )
    result = await session.execute(
        select(Refund, Order.status)
        .join(Order, Order.id == Refund.order_id)
        .where(
            Refund.refund_key.startswith(LATE_PAYMENT_PREFIX, autoescape=True)
            | Refund.status.in_(sorted({RefundStatus.MANUAL, *UNSETTLED_REFUNDS}))
            | failed_and_not_redone
        )
        .order_by(Refund.created_at.desc(), Refund.id.desc())
        .limit(limit)
    )
    found: list[Attention] = []
    for refund, order_status in result.all():
        if refund.refund_key.startswith(LATE_PAYMENT_PREFIX):
            kind = "late_payment"
        elif refund.status == RefundStatus.MANUAL:
            kind = "manual_refund"
        elif refund.status == RefundStatus.FAILED:
            kind = "failed_refund"
        else:
            kind = "unsettled_refund"
        found.append(
            Attention(
                order_id=refund.order_id,
                order_status=order_status,
                kind=kind,
                amount=refund.amount,
                refund_key=refund.refund_key,
                refund_status=refund.status,
                reason=refund.reason,
                at=refund.created_at,
            )
        )
    return found


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(select(Order.status, func.count()).group_by(Order.status))
    return {status: count for status, count in result.all()}
