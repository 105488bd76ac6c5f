"""The payments core: create an order and its gateway transaction, and move orders through the
state table by one path (`apply`) whatever reports the change: webhook, reconciliation, expiry,
admin or kiosk.

Each operation is one unit of work committed here. Gateway calls happen outside database
transactions; bus messages go out only after commit.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bayar.bus.base import Bus
from bayar.gateways.base import (
    ChargeRequest,
    Customer,
    Gateway,
    GatewayRejected,
    GatewayStatus,
    GatewayUnavailable,
    LineItem,
    PaymentInstructions,
    SnapRequest,
    TransactionNotFound,
)
from bayar.metrics import Metrics
from bayar.payments import machine
from bayar.payments.errors import (
    GatewayDeclined,
    GatewayUnreachable,
    InvalidRequest,
    NotAllowed,
    OrderNotFound,
    OutOfStock,
    ProductNotFound,
)
from bayar.payments.states import PAID_LIKE, Event, Status, gateway_event
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import GatewayCall, Order, OrderEvent, OrderItem, Payment, Refund

log = logging.getLogger("bayar.payments")
T = TypeVar("T")
# Called inside the transaction that makes an order paid, before it commits (the vending domain
# creates the kiosk unit's dispense row here, so a paid unit always has one).
PaidHook = Callable[[AsyncSession, Order, datetime], Awaitable[None]]

PAYMENT_TYPES = ("snap", "qris", "gopay", "bank_transfer", "echannel", "cstore")
BANKS = ("bca", "bni", "bri", "permata")
STORES = ("indomaret", "alfamart")
# How long a customer has to pay, per payment type (the gateway is told the same).
PAYMENT_WINDOW = {
    "qris": timedelta(minutes=15),
    "gopay": timedelta(minutes=15),
    "snap": timedelta(hours=1),
}
DEFAULT_WINDOW = timedelta(hours=24)
# Statuses whose move away gives reserved stock back, and the ones that take it again.
RELEASED = frozenset({Status.FAILED, Status.EXPIRED, Status.CANCELLED})
# Payment rows whose create call has not been answered yet (still being made, or lost on the way).
UNANSWERED = ("creating", "unknown")
# Payments with nothing to show a customer: not answered by the gateway yet, or refused.
NO_PAYMENT = (*UNANSWERED, "rejected")
# How to pay, as the gateway's create answer (and later reports) told it.
INSTRUCTION_FIELDS = (
    "token",
    "redirect_url",
    "qr_string",
    "qr_url",
    "va_number",
    "bank",
    "bill_key",
    "biller_code",
    "payment_code",
    "store",
)
MAX_QUANTITY = 100
MAX_LINES = 50


@dataclass(frozen=True)
class CartLine:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class Checkout:
    items: tuple[CartLine, ...]
    payment_type: str = "snap"
    customer: Customer | None = None
    bank: str | None = None
    store: str | None = None
    machine_id: str | None = None
    idempotency_key: str | None = None
    finish_url: str | None = None


def payment_changes(payment: Any, status: GatewayStatus) -> dict[str, Any]:
    """The fields a gateway report changes on a payment (a `Payment`, or its row)."""
    changes: dict[str, Any] = {
        "status": status.transaction_status,
        "fraud_status": status.fraud_status,
        "transaction_id": status.transaction_id or payment.transaction_id,
        "payment_type": status.payment_type or payment.payment_type,
        "refunded_amount": max(payment.refunded_amount, status.refunded_amount),
    }
    if status.payment_details:
        changes["instructions"] = {**(payment.instructions or {}), **status.payment_details}
    if payment.status in UNANSWERED and status.transaction_status == "pending":
        # The create call's answer (the QR, the VA number) never came back, only this report:
        # the payment stays unanswered, so a retry with the same Idempotency-Key asks again.
        del changes["status"]
    return {k: v for k, v in changes.items() if getattr(payment, k) != v}


def customer_payment(payment: Payment | None) -> dict[str, Any] | None:
    """What a customer may see of a payment (the API's `payment`, the shop's order page)."""
    if payment is None or payment.status in NO_PAYMENT:
        return None
    instructions = payment.instructions or {}
    return {
        "payment_type": payment.payment_type,
        "status": payment.status,
        "transaction_id": payment.transaction_id,
        **{k: instructions.get(k) for k in INSTRUCTION_FIELDS},
    }


def refundable(order: Order, payment: Payment | None, refunds: Sequence[Refund]) -> int:
    """What a refund may still give back (0: nothing, or the order is not paid)."""
    if Status(order.status) not in PAID_LIKE:
        return 0
    given = sum(r.amount for r in refunds if r.status != "failed")
    return max(0, order.gross_amount - max(given, payment.refunded_amount if payment else 0))


RETRY_NOTE = "a declined attempt: the customer may pay another way on the Snap page"


@dataclass(frozen=True)
class Verdict:
    """`PaymentsService._judge`: not applicable (`problem`), a declined Snap card the customer
    may follow with another (`retry`), or the state table's `outcome`."""

    problem: str | None = None
    mismatch: bool = False
    retry: bool = False
    outcome: machine.Outcome | None = None


@dataclass(frozen=True)
class Applied:
    """What `apply` did to an order."""

    order_id: str
    before: Status
    after: Status
    changed: bool
    ignored: bool
    note: str | None = None
    mismatch: bool = False  # the gateway's amount or currency is not the order's: refused
    machine_id: str | None = None  # of a changed kiosk order: where `publish` rings too


@dataclass
class ReconcilePolicy:
    first_check: timedelta = timedelta(seconds=10)
    backoff: tuple[timedelta, ...] = field(
        default_factory=lambda: tuple(timedelta(seconds=s) for s in (15, 30, 60, 120, 300, 600))
    )

    def next_delay(self, attempts: int) -> timedelta:
        return self.backoff[min(attempts, len(self.backoff) - 1)]


def new_order_id(now: datetime) -> str:
    return f"BYR-{now:%Y%m%d}-{secrets.token_hex(5).upper()}"


class PaymentsService:
    def __init__(
        self,
        db: Database,
        gateway: Gateway,
        bus: Bus,
        *,
        metrics: Metrics | None = None,
        confirm_paid: bool = True,
        policy: ReconcilePolicy | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.bus = bus
        self.metrics = metrics or Metrics()
        self.confirm_paid = confirm_paid
        self.policy = policy or ReconcilePolicy()
        self.now = now
        self.on_paid: list[PaidHook] = []

    # -- create ----------------------------------------------------------------------------------

    async def create_transaction(self, checkout: Checkout) -> tuple[Order, bool]:
        """Price the cart, reserve the stock, create the order, then the gateway transaction.
        The flag is True when the Idempotency-Key named an order made earlier."""
        self._validate(checkout)
        if checkout.idempotency_key:
            async with self.db.session() as session:
                existing = await repo.order_by_idempotency_key(session, checkout.idempotency_key)
            if existing is not None:
                return await self._resume(existing, checkout), True
        try:
            order, lines = await self._reserve(checkout)
        except IntegrityError:
            # The same Idempotency-Key raced us: answer with the order the other request made.
            async with self.db.session() as session:
                existing = await repo.order_by_idempotency_key(
                    session, checkout.idempotency_key or ""
                )
            if existing is None:
                raise
            return await self._resume(existing, checkout), True
        await self._open_payment(order, lines, checkout)
        return order, False

    def _validate(self, checkout: Checkout) -> None:
        if not checkout.items:
            raise InvalidRequest("the cart is empty")
        if len(checkout.items) > MAX_LINES:
            raise InvalidRequest(f"at most {MAX_LINES} lines per order")
        for line in checkout.items:
            if line.quantity < 1 or line.quantity > MAX_QUANTITY:
                raise InvalidRequest(
                    f"quantity of {line.product_id} must be between 1 and {MAX_QUANTITY}"
                )
        if checkout.payment_type not in PAYMENT_TYPES:
            raise InvalidRequest(f"payment_type must be one of {', '.join(PAYMENT_TYPES)}")
        if checkout.payment_type == "bank_transfer" and checkout.bank not in BANKS:
            raise InvalidRequest(f"bank must be one of {', '.join(BANKS)} for bank_transfer")
        if checkout.payment_type == "cstore" and checkout.store not in STORES:
            raise InvalidRequest(f"store must be one of {', '.join(STORES)} for cstore")
        if checkout.machine_id is not None:  # a kiosk drops one unit, paid on the spot
            if len(checkout.items) != 1 or checkout.items[0].quantity != 1:
                raise InvalidRequest("a kiosk order is one unit of one product")
            if checkout.payment_type not in ("qris", "gopay"):
                raise InvalidRequest("a kiosk order is paid by qris or gopay")

    async def _reserve(self, checkout: Checkout) -> tuple[Order, list[OrderItem]]:
        quantities: dict[str, int] = {}
        for line in checkout.items:
            quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
        now = self.now()
        order_id = new_order_id(now)
        async with self.db.session() as session, session.begin():
            lines: list[OrderItem] = []
            for product_id in sorted(quantities):  # one lock order: no deadlocks between buyers
                wanted = quantities[product_id]
                slot_code = None
                if checkout.machine_id:
                    found_slot = await repo.take_slot_stock(
                        session, checkout.machine_id, product_id, wanted
                    )
                    taken = found_slot[1] if found_slot else None
                    slot_code = found_slot[0].code if found_slot else None
                else:
                    taken = await repo.take_stock(session, product_id, wanted)
                if taken is None:
                    found = await repo.product(session, product_id)
                    if found is None or not found.active:
                        raise ProductNotFound(f"unknown product {product_id!r}")
                    where = "in this machine" if checkout.machine_id else f"{found.stock} left"
                    raise OutOfStock(f"not enough {found.name} ({where}): {wanted} asked")
                lines.append(
                    OrderItem(
                        order_id=order_id,
                        product_id=product_id,
                        slot_code=slot_code,
                        name=taken.name,
                        price=taken.price,
                        quantity=wanted,
                    )
                )
            gross_amount = sum(i.price * i.quantity for i in lines)
            if gross_amount < 1:  # raised inside the transaction: the stock taken goes back
                raise InvalidRequest("this cart totals Rp 0: there is nothing to pay")
            window = PAYMENT_WINDOW.get(checkout.payment_type, DEFAULT_WINDOW)
            customer = checkout.customer
            order = Order(
                id=order_id,
                status=Status.PENDING.value,
                channel="kiosk"
                if checkout.machine_id
                else ("shop" if checkout.finish_url else "api"),
                machine_id=checkout.machine_id,
                gross_amount=gross_amount,
                currency="IDR",
                payment_type=checkout.payment_type,
                customer=None
                if customer is None
                else {k: v for k, v in vars(customer).items() if v is not None},
                idempotency_key=checkout.idempotency_key,
                expires_at=now + window,
                next_check_at=now + self.policy.first_check,
                check_attempts=0,
                version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(order)
            await session.flush()
            session.add_all(lines)
            session.add(
                Payment(
                    order_id=order_id,
                    gateway=self.gateway.name,
                    payment_type=checkout.payment_type,
                    amount=order.gross_amount,
                    status="creating",
                    instructions={},
                    expires_at=order.expires_at,
                    updated_at=now,
                )
            )
            session.add(
                OrderEvent(
                    order_id=order_id,
                    from_status=None,
                    to_status=Status.PENDING.value,
                    event="created",
                    source="kiosk" if checkout.machine_id else "api",
                    note=f"{checkout.payment_type}, {order.gross_amount} IDR",
                    at=now,
                )
            )
        log.info("order created", extra={"order_id": order_id, "amount": order.gross_amount})
        return order, lines

    async def _resume(self, order: Order, checkout: Checkout) -> Order:
        """A retried create with the same Idempotency-Key: the same order; if its gateway call
        never got an answer, ask again (the gateway dedupes on the order id)."""
        async with self.db.session() as session:
            payment = await repo.payment_of(session, order.id)
            lines = list(await repo.items_of(session, order.id))
        if payment is not None and payment.status in UNANSWERED and order.status == "pending":
            await self._open_payment(order, lines, checkout)
        return order

    async def _open_payment(self, order: Order, lines: list[OrderItem], checkout: Checkout) -> None:
        items = tuple(LineItem(i.product_id, i.name, i.price, i.quantity) for i in lines)
        window = int((order.expires_at - self.now()).total_seconds())
        try:
            if checkout.payment_type == "snap":
                instructions = await self._call(
                    order.id,
                    "create_snap",
                    lambda: self.gateway.create_snap(
                        SnapRequest(
                            order_id=order.id,
                            gross_amount=order.gross_amount,
                            items=items,
                            customer=checkout.customer,
                            expiry_seconds=max(window, 60),
                            finish_url=checkout.finish_url,
                        )
                    ),
                )
            else:
                instructions = await self._call(
                    order.id,
                    "charge",
                    lambda: self.gateway.charge(
                        ChargeRequest(
                            order_id=order.id,
                            gross_amount=order.gross_amount,
                            items=items,
                            payment_type=checkout.payment_type,
                            customer=checkout.customer,
                            bank=checkout.bank,
                            store=checkout.store,
                            expiry_seconds=max(window, 60),
                            idempotency_key=order.id,
                        )
                    ),
                )
        except GatewayUnavailable:
            await self._set_payment(order.id, status="unknown")
            log.warning("gateway unreachable while creating", extra={"order_id": order.id})
            return
        except GatewayRejected as rejected:
            await self.apply_event(
                order.id,
                Event.PAYMENT_DENIED,
                source="api",
                note=f"gateway refused: {rejected.message}",
            )
            await self._set_payment(order.id, status="rejected")
            raise GatewayDeclined(
                f"the payment gateway refused the payment: {rejected.message}"
            ) from None
        await self._set_payment(
            order.id, status=instructions.transaction_status, instructions=instructions
        )

    async def _set_payment(
        self, order_id: str, *, status: str, instructions: PaymentInstructions | None = None
    ) -> None:
        async with self.db.session() as session, session.begin():
            payment = await repo.payment_of(session, order_id)
            if payment is None:
                return
            if payment.status in UNANSWERED:
                payment.status = status
            payment.updated_at = self.now()
            if instructions is not None:
                payment.transaction_id = instructions.transaction_id or payment.transaction_id
                payment.instructions = {
                    k: (v.isoformat() if isinstance(v, datetime) else v)
                    for k, v in vars(instructions).items()
                    if v is not None
                }
                if instructions.expiry_time is not None:
                    payment.expires_at = instructions.expiry_time

    # -- the one path ------------------------------------------------------------------------------

    async def apply_status(self, status: GatewayStatus, *, source: str) -> Applied | None:
        """Apply what the gateway says about an order. None if the order is unknown here."""
        event = gateway_event(status.transaction_status, status.fraud_status)
        return await self._apply(status.order_id, event, source=source, status=status)

    async def apply_webhook(self, conn: AsyncConnection, status: GatewayStatus) -> Applied | None:
        """`apply_status` inside the caller's transaction `conn` (the inbox row's), which the
        caller commits before publishing. Most webhooks repeat what the order already says: the
        order's locked row, and its payment's, answer those without loading ORM objects; any
        change takes the one path."""
        order = await repo.lock_order_row(conn, status.order_id)
        if order is None:
            return None
        event = gateway_event(status.transaction_status, status.fraud_status)
        before = Status(order.status)
        verdict = self._judge(order, before, event, status, self.now())
        if verdict.outcome is not None and verdict.outcome.repeat and not status.refunds:
            payment = await repo.payment_row(conn, order.id)
            if payment is None or not payment_changes(payment, status):
                return Applied(order.id, before, before, changed=False, ignored=False)
        async with self.db.session_on(conn) as session:
            applied = await self._apply_in(session, order.id, event, "webhook", status, None)
            await session.flush()
        return applied

    async def apply_event(
        self, order_id: str, event: Event, *, source: str, note: str | None = None
    ) -> Applied | None:
        """Apply an event of our own (local expiry, a cancelled Snap order, a dispensed drink)."""
        return await self._apply(order_id, event, source=source, note=note)

    async def _apply(
        self,
        order_id: str,
        event: Event | None,
        *,
        source: str,
        status: GatewayStatus | None = None,
        note: str | None = None,
    ) -> Applied | None:
        async with self.db.session() as session, session.begin():
            applied = await self._apply_in(session, order_id, event, source, status, note)
        if applied is not None and applied.changed:
            await self.publish(applied)
        return applied

    @staticmethod
    def _ignored(
        session: AsyncSession,
        order_id: str,
        status: Status,
        event: str,
        source: str,
        note: str | None,
        now: datetime,
    ) -> None:
        """History keeps what was not acted on, and why."""
        session.add(
            OrderEvent(
                order_id=order_id,
                from_status=status.value,
                to_status=status.value,
                event=event,
                source=source,
                ignored=True,
                note=note,
                at=now,
            )
        )

    @staticmethod
    def _retry_allowed(
        order: Any, before: Status, event: Event, status: GatewayStatus | None, now: datetime
    ) -> bool:
        """Snap lets a customer whose card was declined try another card until the order expires."""
        return (
            event == Event.PAYMENT_DENIED
            and before == Status.PENDING
            and status is not None
            and status.payment_type == "credit_card"
            and order.payment_type == "snap"
            and now < order.expires_at
        )

    async def _apply_in(
        self,
        session: AsyncSession,
        order_id: str,
        event: Event | None,
        source: str,
        status: GatewayStatus | None,
        note: str | None,
    ) -> Applied | None:
        order = await repo.lock_order(session, order_id)
        if order is None:
            return None
        before = Status(order.status)
        now = self.now()
        verdict = self._judge(order, before, event, status, now)
        if verdict.retry:
            note = RETRY_NOTE
            if await repo.last_note(session, order_id) != note:  # each reconcile pass asks again
                denied = Event.PAYMENT_DENIED.value
                self._ignored(session, order_id, before, denied, source, note, now)
            return Applied(order_id, before, before, changed=False, ignored=True, note=note)
        outcome = verdict.outcome
        if outcome is None:
            problem = verdict.problem
            name = status.transaction_status if status else "unknown"
            self._ignored(session, order_id, before, name, source, problem, now)
            log.warning("gateway status not applied: %s", problem, extra={"order_id": order_id})
            return Applied(
                order_id,
                before,
                before,
                changed=False,
                ignored=True,
                note=problem,
                mismatch=verdict.mismatch,
            )
        event = outcome.event
        late_payment = outcome.ignored and event == Event.PAYMENT_SUCCEEDED and before in RELEASED
        if status is not None and (not outcome.ignored or late_payment):
            await self._record_payment(session, order, status, now)
        if late_payment:
            # Final states stay final, but this is real money: the payment row shows it and a
            # person (or the kiosk's refund path) must give it back.
            note = f"paid after the order was {before.value}: refund it"
            log.error("payment after close", extra={"order_id": order_id})
        if outcome.ignored:
            note_kept = note or f"late {event.value} ignored in {before.value}"
            self._ignored(session, order_id, before, event.value, source, note_kept, now)
            return Applied(order_id, before, before, changed=False, ignored=True, note=note)
        if not outcome.changed:
            return Applied(order_id, before, before, changed=False, ignored=False)
        after = outcome.after
        items = await repo.items_of(session, order_id)
        if after in RELEASED and before not in RELEASED:
            await repo.give_back_stock(session, order, items)
        order.status = after.value
        order.version += 1
        order.updated_at = now
        if after not in (Status.PENDING, Status.REVIEW):
            order.next_check_at = None
        if after == Status.PAID:
            for hook in self.on_paid:
                await hook(session, order, now)
        session.add(
            OrderEvent(
                order_id=order_id,
                from_status=before.value,
                to_status=after.value,
                event=event.value,
                source=source,
                note=note,
                at=now,
            )
        )
        self.metrics.transitions.labels(after.value, source).inc()
        log.info(
            "order %s -> %s (%s)", before.value, after.value, source, extra={"order_id": order_id}
        )
        return Applied(
            order_id,
            before,
            after,
            changed=True,
            ignored=False,
            note=note,
            machine_id=order.machine_id,
        )

    def _judge(
        self,
        order: Any,
        before: Status,
        event: Event | None,
        status: GatewayStatus | None,
        now: datetime,
    ) -> Verdict:
        """What an event does to an order (an `Order`, or its row), before anything is written."""
        problem = self.mismatch(order, status) if status is not None else None
        if problem is not None:
            return Verdict(problem=problem, mismatch=True)
        if event is None:
            unknown = f"unknown gateway status {status.transaction_status!r}" if status else None
            return Verdict(problem=unknown)
        if self._retry_allowed(order, before, event, status, now):
            return Verdict(retry=True)
        return Verdict(outcome=machine.apply(before, event))

    @staticmethod
    def mismatch(order: Any, status: GatewayStatus) -> str | None:
        if status.gross_amount != order.gross_amount:
            return f"amount mismatch: gateway {status.gross_amount}, order {order.gross_amount}"
        if status.currency != order.currency:
            return f"currency mismatch: gateway {status.currency}, order {order.currency}"
        return None

    async def _record_payment(
        self, session: AsyncSession, order: Order, status: GatewayStatus, now: datetime
    ) -> None:
        payment = await repo.payment_of(session, order.id)
        if payment is None:
            return
        changes = payment_changes(payment, status)
        if changes:  # a repeated report (most webhooks) writes nothing
            for key, value in changes.items():
                setattr(payment, key, value)
            payment.updated_at = now
        if status.refunds:
            known = {r.refund_key: r for r in await repo.refunds_of(session, order.id)}
            for refund in status.refunds:
                mine = known.get(refund.refund_key)
                if mine is not None and mine.status != "succeeded":
                    mine.status = "succeeded"
                    mine.updated_at = now

    async def publish(self, applied: Applied) -> None:
        try:
            message = {
                "type": "order",
                "order_id": applied.order_id,
                "status": applied.after.value,
                "previous": applied.before.value,
                "machine_id": applied.machine_id,
            }
            await self.bus.publish(f"order:{applied.order_id}", message)
            if applied.machine_id:
                await self.bus.publish(f"machine:{applied.machine_id}", message)
            await self.bus.publish("orders", message)
        except Exception:
            # The bus is a doorbell: the change is committed; readers resync from the database.
            log.exception("publish failed", extra={"order_id": applied.order_id})

    # -- asking the gateway -----------------------------------------------------------------------

    async def _call(self, order_id: str, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        outcome, detail = "ok", None
        try:
            return await call()
        except TransactionNotFound as error:
            outcome, detail = "not_found", error.message
            raise
        except GatewayRejected as error:
            outcome, detail = "rejected", f"{error.code}: {error.message}"
            raise
        except GatewayUnavailable as error:
            outcome, detail = "unavailable", str(error)
            raise
        finally:
            elapsed = time.perf_counter() - started
            try:
                async with self.db.session() as session, session.begin():
                    session.add(
                        GatewayCall(
                            order_id=order_id,
                            operation=operation,
                            outcome=outcome,
                            detail=detail,
                            duration_ms=int(elapsed * 1000),
                            at=self.now(),
                        )
                    )
            except Exception:
                log.exception("could not record a gateway call", extra={"order_id": order_id})

    async def gateway_status(self, order_id: str) -> GatewayStatus:
        return await self._call(order_id, "status", lambda: self.gateway.status(order_id))

    async def check(self, order_id: str) -> Applied | None:
        """The worker's look at an open order: expire it when its time is up, else ask the gateway.
        Never gives up on an order the gateway cannot be asked about: it is asked again later."""
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
        if order is None or order.status not in ("pending", "review"):
            return None
        try:
            if self.now() >= order.expires_at:
                return await self._expire(order)
            status = await self.gateway_status(order_id)
        except TransactionNotFound:
            return None  # not created at the gateway (yet): expiry settles it
        except (GatewayUnavailable, GatewayRejected) as error:
            log.warning("reconcile deferred: %s", error, extra={"order_id": order_id})
            return None
        finally:
            await self._schedule_next_check(order_id)
        return await self.apply_status(status, source="reconcile")

    async def _expire(self, order: Order) -> Applied | None:
        try:
            status = await self._call(order.id, "expire", lambda: self.gateway.expire(order.id))
        except TransactionNotFound:
            return await self.apply_event(
                order.id, Event.PAYMENT_EXPIRED, source="expiry", note="never paid at the gateway"
            )
        except GatewayRejected:
            # Not expirable any more: the gateway has moved on (often: it was just paid).
            status = await self.gateway_status(order.id)
        return await self.apply_status(status, source="expiry")

    async def _schedule_next_check(self, order_id: str) -> None:
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None or order.status not in ("pending", "review"):
                return
            delay = self.policy.next_delay(max(order.check_attempts - 1, 0))
            now = self.now()
            # Ask again at the expiry at the latest; past it (the gateway would not expire the
            # order, e.g. a card in review) keep backing off instead of asking on every pass.
            due = now + delay
            order.next_check_at = min(due, order.expires_at) if order.expires_at > now else due

    # -- admin operations --------------------------------------------------------------------

    async def cancel(self, order_id: str, *, source: str = "admin") -> Applied:
        order = await self.order(order_id)
        if order.status not in ("pending", "review"):
            raise NotAllowed(f"only a pending order can be cancelled; this one is {order.status}")
        try:
            status = await self._call(order_id, "cancel", lambda: self.gateway.cancel(order_id))
        except TransactionNotFound:
            applied = await self.apply_event(
                order_id, Event.PAYMENT_CANCELLED, source=source, note="no gateway transaction yet"
            )
        except GatewayRejected:
            applied = await self.apply_status(await self.gateway_status(order_id), source=source)
        except GatewayUnavailable:
            raise GatewayUnreachable("the gateway did not answer; try again") from None
        else:
            applied = await self.apply_status(status, source=source)
        assert applied is not None
        if applied.after != Status.CANCELLED:
            raise NotAllowed(
                f"the gateway says the order is {applied.after.value}; it was not cancelled"
            )
        return applied

    async def refund(
        self,
        order_id: str,
        *,
        amount: int | None,
        refund_key: str | None,
        reason: str,
        source: str = "admin",
    ) -> Refund:
        """Refund a paid order, fully or in part. The same refund key never refunds twice."""
        key = refund_key or f"{order_id}-{secrets.token_hex(4)}"
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None:
                raise OrderNotFound(f"no order {order_id}")
            existing = await repo.refund_by_key(session, key)
            if existing is not None:
                if existing.order_id != order_id:
                    raise InvalidRequest("this refund key belongs to another order")
                if existing.status in ("succeeded", "failed"):
                    return existing
                refund = existing
            else:
                if Status(order.status) not in PAID_LIKE:
                    raise NotAllowed(
                        f"only a paid order can be refunded; this one is {order.status}"
                    )
                remaining = refundable(
                    order,
                    await repo.payment_of(session, order_id),
                    await repo.refunds_of(session, order_id),
                )
                value = remaining if amount is None else amount
                if value < 1 or value > remaining:
                    raise InvalidRequest(f"the refund amount must be between 1 and {remaining}")
                refund = Refund(
                    order_id=order_id,
                    refund_key=key,
                    amount=value,
                    reason=reason,
                    status="requested",
                    created_at=self.now(),
                    updated_at=self.now(),
                )
                session.add(refund)
        full = refund.amount == order.gross_amount
        try:
            status = await self._call(
                order_id,
                "refund",
                lambda: self.gateway.refund(
                    order_id, amount=None if full else refund.amount, refund_key=key, reason=reason
                ),
            )
        except GatewayUnavailable:
            await self._refund_outcome(refund.id, "unknown", "the gateway did not answer")
            raise GatewayUnreachable(
                "the gateway did not answer; retry with the same refund_key"
            ) from None
        except GatewayRejected as rejected:
            if rejected.code == "406":  # this key was already refunded: read the truth
                status = await self.gateway_status(order_id)
            else:
                await self._refund_outcome(refund.id, "failed", rejected.message)
                raise GatewayDeclined(
                    f"the gateway refused the refund: {rejected.message}"
                ) from None
        await self.apply_status(status, source=source)
        return await self._refund_outcome(refund.id, "succeeded", None)

    async def _refund_outcome(self, refund_id: int, status: str, detail: str | None) -> Refund:
        async with self.db.session() as session, session.begin():
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            refund.status = status
            refund.detail = detail
            refund.updated_at = self.now()
        return refund

    # -- reading -------------------------------------------------------------------------------

    async def order(self, order_id: str) -> Order:
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id}")
        return order

    async def order_details(self, order_id: str) -> dict[str, Any]:
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise OrderNotFound(f"no order {order_id}")
            return {
                "order": order,
                "items": list(await repo.items_of(session, order_id)),
                "payment": await repo.payment_of(session, order_id),
                "history": list(await repo.history_of(session, order_id)),
                "refunds": list(await repo.refunds_of(session, order_id)),
                "notifications": list(await repo.notifications_of(session, order_id)),
                "gateway_calls": list(await repo.gateway_calls_of(session, order_id)),
            }
