"""The payments core: create an order and its gateway transaction, and move orders through the
state table by one path (`apply`) whatever reports the change: webhook, reconciliation, expiry,
admin or kiosk.

Each operation is one unit of work committed here. Gateway calls happen outside database
transactions; bus messages go out only after commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bayar.bus.base import Bus
from bayar.clock import Clock, system_clock
from bayar.gateways.base import (
    ChargeRequest,
    Customer,
    Gateway,
    GatewayError,
    GatewayEvent,
    GatewayRejected,
    GatewayReport,
    GatewayUnavailable,
    LineItem,
    PaymentInstructions,
    Rejection,
    SnapRequest,
    TransactionNotFound,
)
from bayar.gateways.methods import KIOSK_TYPES, Bank, PaymentType, Store
from bayar.metrics import Metrics
from bayar.payments import machine
from bayar.payments.errors import (
    InvalidRequest,
    NotAllowed,
    OrderNotFound,
    OutOfStock,
    ProductNotFound,
)
from bayar.payments.gateways import GatewayRouter
from bayar.payments.states import OPEN, PAID_LIKE, RELEASED, Event, Status
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import GatewayCall, Order, OrderEvent, OrderItem, Payment, Refund

log = logging.getLogger("bayar.payments")
T = TypeVar("T")
# Called inside the transaction that makes an order paid, before it commits (the vending domain
# creates the kiosk unit's dispense row here, so a paid unit always has one).
PaidHook = Callable[[AsyncSession, Order, datetime], Awaitable[None]]
# Called inside the transaction that marks a manual refund done by hand, before it commits (the
# vending domain closes the kiosk unit's dispense here).
RefundHook = Callable[[AsyncSession, Refund, datetime], Awaitable[None]]

# How long a customer has to pay, per payment type (the gateway is told the same).
PAYMENT_WINDOW = {
    "qris": timedelta(minutes=15),
    "gopay": timedelta(minutes=15),
    "snap": timedelta(hours=1),
}
DEFAULT_WINDOW = timedelta(hours=24)
# Gateway events that move money: on a closed order they are kept (and a payment refunded).
MONEY_EVENTS = frozenset({Event.PAYMENT_SUCCEEDED, Event.REFUNDED, Event.PARTIALLY_REFUNDED})
# The refund of a payment that arrived for a closed order: one per order, under this key.
LATE_REFUND_PREFIX = repo.LATE_PAYMENT_PREFIX
# How a refund a person made outside the gateway describes itself (its `detail` starts so).
BY_HAND = "refunded by hand"
# No payment is opened with less than this left of the order's window (Snap counts minutes).
MIN_PAYMENT_WINDOW = timedelta(seconds=60)
# Payment rows whose create call has not been answered yet (still being made, or lost on the way).
UNANSWERED = ("creating", "unknown")
# The history note of an order the gateway denies knowing after it answered for it (an alarm).
UNKNOWN_NOTE = (
    "the gateway says it has no such transaction, yet it answered for it before: is this"
    " process asking the wrong gateway? the order is left as it is"
)
# Payments with nothing to show a customer: not answered by the gateway yet, or refused.
NO_PAYMENT = (*UNANSWERED, "rejected")
# How to pay, as the gateway's create answer (and later reports) told it.
INSTRUCTION_FIELDS = (
    "token",
    "redirect_url",
    "invoice_url",
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
class OrderLimits:
    """How much one order may hold, and for how long (BAYAR_HOLD_MINUTES,
    BAYAR_MAX_UNITS_PER_ORDER)."""

    hold: timedelta = timedelta(minutes=60)
    max_units: int = 20


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
    gateway: str | None = None  # None: the default (BAYAR_GATEWAY)


def request_fingerprint(checkout: Checkout) -> str:
    """What a create request asks for, as one digest: the same Idempotency-Key must come with
    the same request (the cart as quantities per product, however its lines are split)."""
    quantities: dict[str, int] = {}
    for line in checkout.items:
        quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
    customer = checkout.customer
    data = {
        "items": sorted(quantities.items()),
        "payment_type": checkout.payment_type,
        "bank": checkout.bank,
        "store": checkout.store,
        "machine_id": checkout.machine_id,
        "finish_url": checkout.finish_url,
        "customer": None if customer is None else sorted(vars(customer).items()),
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def event_of(report: GatewayReport) -> Event | None:
    """The core's event for what a gateway reports (the neutral events are the core's own)."""
    return None if report.event is None else Event(report.event.value)


def without_instructions(status: GatewayReport) -> GatewayReport:
    """A notification as the core may use it: payment instructions (VA number, bill key, payment
    code) are not signed, so they come only from the create answer or the status API."""
    return replace(status, payment_details={}) if status.payment_details else status


def payment_changes(payment: Any, status: GatewayReport) -> dict[str, Any]:
    """The fields a gateway report changes on a payment (a `Payment`, or its row)."""
    changes: dict[str, Any] = {
        "status": status.gateway_status,
        "fraud_status": status.fraud_verdict,
        "transaction_id": status.transaction_id or payment.transaction_id,
        "payment_type": status.payment_type or payment.payment_type,
        "refunded_amount": max(payment.refunded_amount, status.refunded_amount),
    }
    if status.payment_details:
        changes["instructions"] = {**(payment.instructions or {}), **status.payment_details}
    if payment.status in UNANSWERED and status.event == GatewayEvent.PENDING:
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


def declined_attempt(status: str, history: Sequence[OrderEvent]) -> bool:
    """The order is still open and the last thing that happened to it was a declined attempt
    (a card the bank refused, noted with RETRY_NOTE): what the customer is told on the order page,
    with what to do next (another card or method). Anything after it (another method chosen, a
    payment) ends it."""
    return status == Status.PENDING.value and bool(history) and history[-1].note == RETRY_NOTE


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
    late_refund: int | None = None  # id of a refund to ask the gateway for, after commit


@dataclass(frozen=True)
class Screening:
    """`PaymentsService.apply_webhook`: the order is unknown (`known` False), or the notification
    was settled from what the order says (`applied`), or it would change something and the
    gateway's status API must confirm it first (`confirm`)."""

    known: bool
    applied: Applied | None = None
    confirm: bool = False


@dataclass
class ReconcilePolicy:
    first_check: timedelta = timedelta(seconds=10)
    # An order the gateway does not know is expired here only this long after its deadline.
    expiry_grace: timedelta = timedelta(minutes=2)
    # A refund with no known outcome is asked about once it is this old (it may be in flight).
    refund_grace: timedelta = timedelta(minutes=2)
    # A notification being confirmed is looked at by the worker by then, should this process die.
    confirm_deadline: timedelta = timedelta(seconds=30)
    # A "creating" payment untouched this long belongs to a process that died mid-call.
    create_lease: timedelta = timedelta(minutes=2)
    backoff: tuple[timedelta, ...] = field(
        default_factory=lambda: tuple(timedelta(seconds=s) for s in (15, 30, 60, 120, 300, 600))
    )

    def next_delay(self, attempts: int) -> timedelta:
        return self.backoff[min(attempts, len(self.backoff) - 1)]


def new_order_id(now: datetime) -> str:
    return f"BYR-{now:%Y%m%d}-{secrets.token_hex(5).upper()}"


def new_refund_key(order_id: str) -> str:
    return f"{order_id}-{secrets.token_hex(4)}"


class PaymentsService:
    def __init__(
        self,
        db: Database,
        gateway: Gateway | GatewayRouter,
        bus: Bus,
        *,
        metrics: Metrics | None = None,
        confirm_paid: bool = True,
        policy: ReconcilePolicy | None = None,
        limits: OrderLimits | None = None,
        now: Clock = system_clock,
        create_wait: float = 5.0,
    ) -> None:
        self.db = db
        # Each order's calls go to the gateway it was created at.
        self.gateway = (
            gateway
            if isinstance(gateway, GatewayRouter)
            else GatewayRouter({gateway.name: gateway}, gateway.name, db)
        )
        self.bus = bus
        self.metrics = metrics or Metrics()
        # True (BAYAR_CONFIRM_PAID, the default): every notification that would change an order
        # is confirmed with the gateway's status API and applied from its answer. False trusts a
        # signed body's status (never its payment instructions): only for a process whose status
        # API cannot see the transactions, as in the multi-process test.
        self.confirm_paid = confirm_paid
        self.policy = policy or ReconcilePolicy()
        self.limits = limits or OrderLimits()
        self.now = now
        # Real seconds a retried create waits for the same order's call in flight before
        # answering with the order as it is (202).
        self.create_wait = create_wait
        self.on_paid: list[PaidHook] = []
        self.on_refunded_by_hand: list[RefundHook] = []
        self._creating: dict[str, asyncio.Event] = {}

    # -- create ----------------------------------------------------------------------------------

    async def create_transaction(self, checkout: Checkout) -> tuple[Order, bool]:
        """Price the cart, reserve the stock, create the order, then the gateway transaction.
        The flag is True when the Idempotency-Key named an order made earlier."""
        self._validate(checkout)
        self._check_limits(checkout)
        fingerprint = request_fingerprint(checkout)
        if checkout.idempotency_key:
            async with self.db.session() as session:
                existing = await repo.order_by_idempotency_key(session, checkout.idempotency_key)
            if existing is not None:
                return await self._resume(existing, checkout, fingerprint), True
        try:
            order, lines = await self._reserve(checkout, fingerprint)
        except IntegrityError:
            # The same Idempotency-Key raced us: answer with the order the other request made.
            async with self.db.session() as session:
                existing = await repo.order_by_idempotency_key(
                    session, checkout.idempotency_key or ""
                )
            if existing is None:
                raise
            return await self._resume(existing, checkout, fingerprint), True
        await self._open_payment(order, lines, checkout)  # its payment row was made "creating"
        return order, False

    def _check_limits(self, checkout: Checkout) -> None:
        """Bounds on what one order may hold (issue 8: one anonymous order emptied the catalog)."""
        units = sum(line.quantity for line in checkout.items)
        if units > self.limits.max_units:
            raise InvalidRequest(
                f"at most {self.limits.max_units} units per order; this cart has {units}"
            )

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
        if checkout.gateway is not None and checkout.gateway not in self.gateway.names:
            raise InvalidRequest(f"gateway must be one of {', '.join(self.gateway.names)}")
        if checkout.payment_type not in set(PaymentType):
            raise InvalidRequest(f"payment_type must be one of {', '.join(PaymentType)}")
        if checkout.payment_type == PaymentType.BANK_TRANSFER and checkout.bank not in set(Bank):
            raise InvalidRequest(f"bank must be one of {', '.join(Bank)} for bank_transfer")
        if checkout.payment_type == PaymentType.CSTORE and checkout.store not in set(Store):
            raise InvalidRequest(f"store must be one of {', '.join(Store)} for cstore")
        if checkout.machine_id is not None:  # a kiosk drops one unit, paid on the spot
            if len(checkout.items) != 1 or checkout.items[0].quantity != 1:
                raise InvalidRequest("a kiosk order is one unit of one product")
            if checkout.payment_type not in KIOSK_TYPES:
                raise InvalidRequest("a kiosk order is paid by qris or gopay")

    def payment_window(self, payment_type: str) -> timedelta:
        """How long an order of this payment type holds its stock and may be paid."""
        return min(PAYMENT_WINDOW.get(payment_type, DEFAULT_WINDOW), self.limits.hold)

    async def _reserve(self, checkout: Checkout, fingerprint: str) -> tuple[Order, list[OrderItem]]:
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
            window = self.payment_window(checkout.payment_type)
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
                request_fingerprint=fingerprint,
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
                    gateway=checkout.gateway or self.gateway.name,
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

    async def _resume(self, order: Order, checkout: Checkout, fingerprint: str) -> Order:
        """A retried create with the same Idempotency-Key: the same order. A create call still
        in flight is waited for (a second one would void the first one's Snap token); one whose
        answer was lost is asked again (the gateway dedupes on the order id), by one retry only."""
        if order.request_fingerprint is not None and order.request_fingerprint != fingerprint:
            raise InvalidRequest(
                "this Idempotency-Key was used for a different request; use a new key"
            )
        await self._wait_for_create(order.id)
        now = self.now()
        if order.status != "pending" or order.expires_at - now < MIN_PAYMENT_WINDOW:
            return order
        async with self.db.session() as session, session.begin():
            claimed = await repo.claim_payment_call(
                session, order.id, ("unknown",), now, stale_before=now - self.policy.create_lease
            )
            lines = list(await repo.items_of(session, order.id))
        if claimed:
            await self._open_payment(order, lines, checkout)
        return order  # still in flight after the wait: as it is (the API answers 202)

    async def _wait_for_create(self, order_id: str) -> None:
        """Until no create call of the order is in flight (this process: its event; another
        process: the payment row), at most `create_wait` seconds."""
        deadline = time.monotonic() + self.create_wait
        while (left := deadline - time.monotonic()) > 0:
            running = self._creating.get(order_id)
            if running is not None:
                try:
                    await asyncio.wait_for(running.wait(), timeout=left)
                except TimeoutError:
                    return
                continue
            async with self.db.session() as session:
                payment = await repo.payment_of(session, order_id)
            if payment is None or payment.status != "creating":
                return
            await asyncio.sleep(min(0.05, left))

    async def _open_payment(self, order: Order, lines: list[OrderItem], checkout: Checkout) -> None:
        """The gateway's create call, made by whoever holds the payment's "creating" claim."""
        running = self._creating[order.id] = asyncio.Event()
        try:
            await self._create_at_gateway(order, lines, checkout)
        finally:
            running.set()
            if self._creating.get(order.id) is running:
                del self._creating[order.id]

    async def _create_at_gateway(
        self, order: Order, lines: list[OrderItem], checkout: Checkout
    ) -> None:
        items = tuple(LineItem(i.product_id, i.name, i.price, i.quantity) for i in lines)
        # Counted from now, to the order's deadline: the gateway never takes a payment after it.
        started = self.now()
        window = int((order.expires_at - started).total_seconds())
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
                            expiry_start=started,
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
                            expiry_start=started,
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
            raise
        await self._set_payment(
            order.id, status=instructions.gateway_status, instructions=instructions
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
                payment.fraud_status = instructions.fraud_verdict or payment.fraud_status
                payment.instructions = {
                    k: (v.isoformat() if isinstance(v, datetime) else v)
                    for k, v in vars(instructions).items()
                    if v is not None
                }
                if instructions.expiry_time is not None:
                    payment.expires_at = instructions.expiry_time

    # -- the one path ------------------------------------------------------------------------------

    async def apply_status(self, status: GatewayReport, *, source: str) -> Applied | None:
        """Apply what the gateway says about an order. None if the order is unknown here."""
        return await self._apply(status.order_id, event_of(status), source=source, status=status)

    async def apply_webhook(self, conn: AsyncConnection, status: GatewayReport) -> Screening:
        """A signed notification, inside the caller's transaction `conn` (the inbox row's), which
        the caller commits before publishing. A signature covers only order_id, status_code and
        gross_amount, so the body is a hint: what repeats what the order already says, or is
        refused or recorded without effect (a wrong amount, a late event), is settled here, from
        the order's locked row and its payment's; anything that would change the order or its
        payment is left for the gateway's status API to confirm (`Screening.confirm`), and the
        order is flagged so the worker confirms it should this process not get to it."""
        order = await repo.lock_order_row(conn, status.order_id)
        if order is None:
            return Screening(known=False)
        status = without_instructions(status)
        event = event_of(status)
        before = Status(order.status)
        now = self.now()
        verdict = self._judge(order, before, event, status, now)
        outcome = verdict.outcome
        if outcome is not None:
            if outcome.repeat and not status.refunds:
                payment = await repo.payment_row(conn, order.id)
                # While the create call is unanswered its answer (or a retry's) brings the
                # transaction: a pending report before it changes nothing.
                if (
                    payment is None
                    or payment.status in UNANSWERED
                    or not payment_changes(payment, status)
                ):
                    same = Applied(order.id, before, before, changed=False, ignored=False)
                    return Screening(known=True, applied=same)
            without_effect = outcome.ignored and not (
                before in RELEASED and outcome.event in MONEY_EVENTS
            )
            if self.confirm_paid and not without_effect:
                await repo.flag_for_check(conn, order.id, now + self.policy.confirm_deadline)
                return Screening(known=True, confirm=True)
        async with self.db.session_on(conn) as session:
            applied = await self._apply_in(session, order.id, event, "webhook", status, None)
            await session.flush()
        return Screening(known=True, applied=applied)

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
        status: GatewayReport | None = None,
        note: str | None = None,
    ) -> Applied | None:
        async with self.db.session() as session, session.begin():
            applied = await self._apply_in(session, order_id, event, source, status, note)
        if applied is not None and applied.changed:
            await self.publish(applied)
        if applied is not None and applied.late_refund is not None:
            await self.refund_late_payment(order_id, applied.late_refund)
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
        order: Any, before: Status, event: Event, status: GatewayReport | None, now: datetime
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
        status: GatewayReport | None,
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
            name = status.gateway_status if status else "unknown"
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
        # Money on a closed order: final states stay final, but the payment row follows the
        # gateway (paid, then refunded) so the books show where the money is.
        late_money = outcome.ignored and before in RELEASED and event in MONEY_EVENTS
        if status is not None and (not outcome.ignored or late_money):
            await self._record_payment(session, order, status, now)
        late_refund = None
        if late_money and event == Event.PAYMENT_SUCCEEDED and status is not None:
            refund = await self._late_refund(session, order, before, status, now)
            note = f"paid after the order was {before.value}: refund {refund.status}"
            late_refund = refund.id if refund.status == "requested" else None
        if outcome.ignored:
            note_kept = note or f"late {event.value} ignored in {before.value}"
            self._ignored(session, order_id, before, event.value, source, note_kept, now)
            return Applied(
                order_id,
                before,
                before,
                changed=False,
                ignored=True,
                note=note,
                late_refund=late_refund,
            )
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

    async def _late_refund(
        self,
        session: AsyncSession,
        order: Order,
        before: Status,
        status: GatewayReport,
        now: datetime,
    ) -> Refund:
        """The refund of money that arrived for a closed order, made once per order: asked of
        the gateway after commit where its method can be refunded there, else queued for a
        person (`manual`). Either way it is on the admin's "needs attention" list."""
        key = f"{LATE_REFUND_PREFIX}{order.id}"
        existing = await repo.refund_by_key(session, key)
        if existing is not None:
            return existing
        payment_type = status.payment_type
        reason = f"paid after the order was {before.value}"
        log.error("payment after the order was %s", before.value, extra={"order_id": order.id})
        payment = await repo.payment_of(session, order.id)
        if not self.gateway_refunds(payment_type, payment.gateway if payment else None):
            return await self._queue_manual(
                session,
                order.id,
                key,
                status.gross_amount,
                reason,
                f"{payment_type} cannot be refunded through the gateway: refund it by hand",
                now,
            )
        return await repo.add_refund(
            session,
            order_id=order.id,
            refund_key=key,
            amount=status.gross_amount,
            reason=reason,
            status="requested",
            now=now,
        )

    def _judge(
        self,
        order: Any,
        before: Status,
        event: Event | None,
        status: GatewayReport | None,
        now: datetime,
    ) -> Verdict:
        """What an event does to an order (an `Order`, or its row), before anything is written."""
        problem = self.mismatch(order, status) if status is not None else None
        if problem is not None:
            return Verdict(problem=problem, mismatch=True)
        if event is None:
            unknown = f"unknown gateway status {status.gateway_status!r}" if status else None
            return Verdict(problem=unknown)
        if self._retry_allowed(order, before, event, status, now):
            return Verdict(retry=True)
        return Verdict(outcome=machine.apply(before, event))

    @staticmethod
    def mismatch(order: Any, status: GatewayReport) -> str | None:
        if status.gross_amount != order.gross_amount:
            return f"amount mismatch: gateway {status.gross_amount}, order {order.gross_amount}"
        if status.currency != order.currency:
            return f"currency mismatch: gateway {status.currency}, order {order.currency}"
        return None

    async def _record_payment(
        self, session: AsyncSession, order: Order, status: GatewayReport, now: datetime
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

    async def gateway_status(self, order_id: str) -> GatewayReport:
        return await self._call(order_id, "status", lambda: self.gateway.status(order_id))

    async def check(self, order_id: str) -> Applied | None:
        """The worker's look at an order it claimed. An open one: expire it when its time is up,
        else ask the gateway. A closed one (flagged: a notification not confirmed yet, a refund
        whose answer was lost): ask the gateway and apply its answer. Never gives up on an order
        the gateway cannot be asked about: it is asked again later."""
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
        if order is None:
            return None
        if order.status not in OPEN:
            return await self._check_closed(order)
        try:
            if self.now() >= order.expires_at:
                return await self._expire(order)
            status = await self.gateway_status(order_id)
        except TransactionNotFound:
            # Not created at the gateway (yet): expiry settles it; unless the gateway already
            # knew it, which is an alarm (the wrong gateway is asked), never a state.
            await self._unknown_at_gateway(order, "reconcile")
            return None
        except GatewayError as error:
            log.warning("reconcile deferred: %s", error, extra={"order_id": order_id})
            return None
        finally:
            await self._schedule_next_check(order_id)
        return await self.apply_status(status, source="reconcile")

    async def _check_closed(self, order: Order) -> Applied | None:
        try:
            status = await self.gateway_status(order.id)
        except TransactionNotFound:
            if not await self._unknown_at_gateway(order, "reconcile"):
                await self.done_checking(order.id)
                return None
            await self._check_later(order.id)
            return None
        except GatewayError as error:
            log.warning("reconcile deferred: %s", error, extra={"order_id": order.id})
            await self._check_later(order.id)
            return None
        applied = await self.apply_status(status, source="reconcile")
        await self.done_checking(order.id)
        return applied

    async def _check_later(self, order_id: str) -> None:
        """A closed order the gateway could not tell about: asked again after a backoff."""
        async with self.db.session() as session, session.begin():
            found = await repo.lock_order(session, order_id)
            if found is not None:
                delay = self.policy.next_delay(max(found.check_attempts - 1, 0))
                found.next_check_at = self.now() + delay

    async def _unknown_at_gateway(self, order: Order, source: str) -> bool:
        """The gateway says it has no transaction for an order. True (an alarm: a log line, the
        `bayar_gateway_unknown_total` metric, a note in the order's history) when the gateway
        had already shown it knows the transaction: a charge it answered, or a report of it;
        then this process asks the wrong gateway (another sandbox, another account), and the
        order must not move on that answer. False when it never did (a create that never got
        through, a Snap page whose customer chose no method yet): nothing to alarm about."""
        async with self.db.session() as session:
            payment = await repo.payment_of(session, order.id)
        if payment is None or payment.transaction_id is None:
            return False
        self.metrics.gateway_unknown.inc()
        log.error(
            "the gateway does not know a transaction it answered for: is this process asking"
            " the wrong gateway (MIDTRANS_CORE_BASE_URL, the server key)? the order is left as"
            " it is",
            extra={"order_id": order.id, "transaction_id": payment.transaction_id},
        )
        async with self.db.session() as session, session.begin():
            found = await repo.lock_order(session, order.id)
            if found is not None and await repo.last_note(session, order.id) != UNKNOWN_NOTE:
                status = Status(found.status)
                self._ignored(
                    session, order.id, status, "gateway_unknown", source, UNKNOWN_NOTE, self.now()
                )
        return True

    async def done_checking(self, order_id: str) -> None:
        """A closed order the gateway was just asked about needs no further check."""
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is not None and order.status not in OPEN:
                order.next_check_at = None

    async def _closed_without_gateway(self, order_id: str, event: Event, **kw: Any) -> Applied:
        """Close an order the gateway has no transaction for (a Snap page whose customer chose no
        method yet): the page may still take a payment until its own expiry, so the worker asks
        the gateway once more after it; a payment found then is refunded as any late one."""
        applied = await self.apply_event(order_id, event, **kw)
        assert applied is not None
        async with self.db.session() as session, session.begin():
            order = await session.get(Order, order_id)
            if order is not None and order.status not in OPEN:
                later = max(self.now(), order.expires_at) + self.policy.expiry_grace
                await repo.flag_for_check(session, order_id, later)
        return applied

    async def _expire(self, order: Order) -> Applied | None:
        """The order's time is up: expire it at the gateway first, so no payment can arrive
        after it closes here. A gateway that does not know the order (a Snap page whose customer
        chose no method) may still take its payment until its own expiry: the order is expired
        here only a grace period after its deadline. An order whose transaction the gateway has
        shown it knows is never expired on a "not found": that is an alarm."""
        try:
            status = await self._call(order.id, "expire", lambda: self.gateway.expire(order.id))
        except TransactionNotFound:
            if await self._unknown_at_gateway(order, "expiry"):
                return None  # an alarm, never a state: the order waits for a gateway that knows
            if self.now() < order.expires_at + self.policy.expiry_grace:
                return None
            return await self._closed_without_gateway(
                order.id, Event.PAYMENT_EXPIRED, source="expiry", note="never paid at the gateway"
            )
        except GatewayRejected:
            # Not expirable any more: the gateway has moved on (often: it was just paid).
            status = await self.gateway_status(order.id)
        return await self.apply_status(status, source="expiry")

    async def _schedule_next_check(self, order_id: str) -> None:
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None or order.status not in OPEN:
                return
            now = self.now()
            due = now + self.policy.next_delay(max(order.check_attempts - 1, 0))
            # Ask again at the expiry at the latest; past it (the gateway would not expire the
            # order, e.g. a card in review) keep backing off instead of asking on every pass.
            order.next_check_at = min(due, order.expires_at) if order.expires_at > now else due

    # -- admin operations --------------------------------------------------------------------

    async def cancel(self, order_id: str, *, source: str = "admin") -> Applied:
        order = await self.order(order_id)
        if order.status not in OPEN:
            raise NotAllowed(f"only a pending order can be cancelled; this one is {order.status}")
        applied: Applied | None
        try:
            status = await self._call(order_id, "cancel", lambda: self.gateway.cancel(order_id))
        except TransactionNotFound:
            applied = await self._closed_without_gateway(
                order_id, Event.PAYMENT_CANCELLED, source=source, note="no gateway transaction yet"
            )
        except GatewayRejected:
            applied = await self.apply_status(await self.gateway_status(order_id), source=source)
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
        """Refund a paid order, fully or in part. The same refund key never refunds twice: a
        caller that wants to retry after a gateway error (`GatewayUnavailable`: the outcome is
        unknown; `GatewayRejected`) names the key itself (`new_refund_key`)."""
        key = refund_key or new_refund_key(order_id)
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None:
                raise OrderNotFound(f"no order {order_id}")
            existing = await repo.refund_by_key(session, key)
            if existing is not None:
                if existing.order_id != order_id:
                    raise InvalidRequest("this refund key belongs to another order")
                if existing.status in ("succeeded", "failed", "manual"):
                    return existing
                refund = existing
            else:
                if Status(order.status) not in PAID_LIKE:
                    raise NotAllowed(
                        f"only a paid order can be refunded; this one is {order.status}"
                    )
                payment = await repo.payment_of(session, order_id)
                if payment is not None and not self.gateway_refunds(
                    payment.payment_type, payment.gateway
                ):
                    raise NotAllowed(
                        f"the gateway cannot refund {payment.payment_type} payments: give the "
                        "money back by hand and record it as a manual refund"
                    )
                remaining = refundable(order, payment, await repo.refunds_of(session, order_id))
                value = remaining if amount is None else amount
                if value < 1 or value > remaining:
                    raise InvalidRequest(f"the refund amount must be between 1 and {remaining}")
                refund = await repo.add_refund(
                    session,
                    order_id=order_id,
                    refund_key=key,
                    amount=value,
                    reason=reason,
                    status="requested",
                    now=self.now(),
                )
        return await self._send_refund(order, refund, source=source)

    async def _send_refund(self, order: Order, refund: Refund, *, source: str) -> Refund:
        """Ask the gateway for a refund row's refund, under its key (the gateway refunds a key
        once), and record the answer. No answer: `unknown`, and the worker asks the gateway
        about it later. A refusal: `failed`, or `manual` for a refund nobody asked bayar for (a
        late payment's), which a person must then make."""
        key, order_id = refund.refund_key, order.id
        full = refund.amount == order.gross_amount
        automatic = key.startswith(LATE_REFUND_PREFIX)
        try:
            try:
                status = await self._call(
                    order_id,
                    "refund",
                    lambda: self.gateway.refund(
                        order_id,
                        amount=None if full else refund.amount,
                        refund_key=key,
                        reason=refund.reason or "",
                    ),
                )
            except GatewayRejected as rejected:
                if rejected.reason is not Rejection.DUPLICATE:
                    if automatic:
                        await self._refused_to_a_person(refund, rejected.message)
                    else:
                        await self._refund_outcome(refund.id, "failed", rejected.message)
                    raise
                # This key was refunded already (an earlier answer was lost): read the truth.
                status = await self.gateway_status(order_id)
        except GatewayUnavailable:
            await self._refund_outcome(refund.id, "unknown", "the gateway did not answer")
            raise
        await self.apply_status(status, source=source)
        return await self._refund_outcome(refund.id, "succeeded", None)

    async def refund_late_payment(self, order_id: str, refund_id: int) -> None:
        """Ask the gateway for the refund of a late payment (`Applied.late_refund`)."""
        async with self.db.session() as session:
            order = await session.get(Order, order_id)
            refund = await session.get(Refund, refund_id)
        if order is None or refund is None or refund.status != "requested":
            return
        try:
            await self._send_refund(order, refund, source="refund")
        except GatewayError as error:  # unknown: the worker asks again; refused: a person must
            log.warning("late payment refund: %s", error, extra={"order_id": order_id})

    async def settle_refunds(self, order_id: str) -> Refund | None:
        """The worker's look at an order's refunds still `requested` or `unknown`: those the
        gateway lists are marked succeeded; the others are asked for again under their own key
        (which the gateway refunds once at most), and marked from that answer."""
        now = self.now()
        async with self.db.session() as session, session.begin():
            order = await session.get(Order, order_id)
            # Leased by compare-and-set: another worker (or the next pass) leaves them alone.
            waiting = await repo.lease_unsettled_refunds(
                session, order_id, now - self.policy.refund_grace, now
            )
        if order is None or not waiting:
            return None
        try:
            status = await self.gateway_status(order_id)
        except GatewayError as error:
            log.warning("refund check deferred: %s", error, extra={"order_id": order_id})
            return None
        await self.apply_status(status, source="reconcile")
        made = {r.refund_key for r in status.refunds}
        last = None
        for refund in waiting:
            if refund.refund_key in made:
                last = await self._refund_outcome(refund.id, "succeeded", None)
                continue
            try:
                last = await self._send_refund(order, refund, source="reconcile")
            except GatewayError as error:
                log.warning("refund retried: %s", error, extra={"order_id": order_id})
        return last

    # -- the manual-refund queue ("needs attention") ----------------------------------------------

    def gateway_refunds(self, payment_type: str, gateway: str | None = None) -> bool:
        """Can the gateway (None: the default) refund a payment of this type? (Midtrans and
        Xendit refund e-wallets and QRIS; bank transfers, bills and store payments only by
        hand.)"""
        return self.gateway.refunds(payment_type, gateway)

    async def queue_manual_refund(
        self,
        order_id: str,
        *,
        refund_key: str,
        reason: str,
        detail: str,
        amount: int | None = None,
    ) -> Refund:
        """Money bayar owes back that the gateway refused to return (a kiosk unit that could not
        be dispensed, say) or cannot return (a bank transfer) goes to a person: the refund under
        `refund_key` becomes `manual`, or one is made for `amount` (default: what the order
        still has to give back). The one way into the queue the admin lists (with
        `_queue_manual`, its inside); a person then gives the money back and says so
        (`refunded_by_hand`). Queued twice, it is queued once."""
        async with self.db.session() as session, session.begin():
            order = await repo.lock_order(session, order_id)
            if order is None:
                raise OrderNotFound(f"no order {order_id}")
            existing = await repo.refund_by_key(session, refund_key)
            if existing is not None:
                if existing.order_id != order_id:
                    raise InvalidRequest("this refund key belongs to another order")
                if existing.status in repo.UNSETTLED_REFUNDS:
                    # The gateway may still make it: a person giving the money too would pay twice.
                    raise NotAllowed("this refund's outcome at the gateway is not known yet")
                value = existing.amount
            else:
                remaining = refundable(
                    order,
                    await repo.payment_of(session, order_id),
                    await repo.refunds_of(session, order_id),
                )
                if remaining < 1:
                    raise NotAllowed("this order has nothing left to give back")
                value = remaining if amount is None else amount
                if value < 1 or value > remaining:
                    raise InvalidRequest(f"the refund amount must be between 1 and {remaining}")
            return await self._queue_manual(
                session, order_id, refund_key, value, reason, detail, self.now()
            )

    async def _queue_manual(
        self,
        session: AsyncSession,
        order_id: str,
        refund_key: str,
        amount: int,
        reason: str,
        detail: str,
        now: datetime,
    ) -> Refund:
        """Inside the caller's transaction: the refund under `refund_key` as `manual` (made if
        missing; one done already stays done)."""
        refund = await repo.refund_by_key(session, refund_key)
        if refund is None:
            refund = await repo.add_refund(
                session,
                order_id=order_id,
                refund_key=refund_key,
                amount=amount,
                reason=reason,
                status="manual",
                now=now,
                detail=detail,
            )
        elif refund.status in ("manual", "succeeded"):
            return refund
        else:
            refund.status, refund.detail, refund.updated_at = "manual", detail, now
        log.error(
            "refund of Rp %d queued for a person: %s",
            refund.amount,
            detail,
            extra={"order_id": order_id},
        )
        return refund

    async def _refused_to_a_person(self, refund: Refund, why: str) -> None:
        """A refund bayar made on its own (a late payment's) that the gateway refused."""
        async with self.db.session() as session, session.begin():
            await self._queue_manual(
                session,
                refund.order_id,
                refund.refund_key,
                refund.amount,
                refund.reason or "",
                why,
                self.now(),
            )

    async def refunded_by_hand(self, refund_key: str, note: str) -> Refund:
        """A person gave a `manual` refund's money back outside the gateway (cash, a bank
        transfer): the refund becomes succeeded and the order follows by the one path (a paid
        order becomes refunded, or partially refunded; a closed one records it in its history),
        in one transaction with the `on_refunded_by_hand` hooks (the kiosk unit's dispense is
        closed). Only once: a second call, or a second person racing the first, is refused."""
        gone = "this refund is not waiting for a person any more (was it done already?)"
        detail = f"{BY_HAND}: {note}" if note else BY_HAND
        applied: Applied | None = None
        async with self.db.session() as session, session.begin():
            found = await repo.refund_by_key(session, refund_key)
            if found is None:
                raise NotAllowed(gone)
            order = await repo.lock_order(session, found.order_id)
            assert order is not None
            await session.refresh(found)  # as the order lock's last holder left it
            if found.status != "manual":
                raise NotAllowed(gone)
            now = self.now()
            found.status, found.detail, found.updated_at = "succeeded", detail, now
            await session.flush()
            before = Status(order.status)
            if before in PAID_LIKE:
                given = sum(
                    r.amount
                    for r in await repo.refunds_of(session, order.id)
                    if r.status == "succeeded"
                )
                event = Event.REFUNDED if given >= order.gross_amount else Event.PARTIALLY_REFUNDED
                applied = await self._apply_in(session, order.id, event, "admin", None, detail)
            else:  # a late payment's: the order stays closed, its history says where the money went
                self._ignored(session, order.id, before, Event.REFUNDED.value, "admin", detail, now)
            for hook in self.on_refunded_by_hand:
                await hook(session, found, now)
        if applied is not None and applied.changed:
            await self.publish(applied)
        log.info("manual refund done by hand", extra={"order_id": found.order_id})
        return found

    async def _refund_outcome(self, refund_id: int, status: str, detail: str | None) -> Refund:
        async with self.db.session() as session, session.begin():
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            refund.status = status
            refund.detail = detail
            refund.updated_at = self.now()
            if status in ("unknown", "failed"):
                # Lost, or refused: either way the gateway's money state may differ from ours
                # (a refusal often means it was refunded elsewhere): the worker asks.
                await repo.flag_for_check(
                    session, refund.order_id, self.now() + self.policy.refund_grace
                )
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
