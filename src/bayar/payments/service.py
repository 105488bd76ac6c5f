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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bayar.bus.base import Bus
from bayar.gateways.base import (
    ChargeRequest,
    Customer,
    Gateway,
    GatewayError,
    GatewayRejected,
    GatewayStatus,
    GatewayUnavailable,
    LineItem,
    PaymentInstructions,
    SnapRequest,
    TransactionNotFound,
)
from bayar.metrics import Metrics
from bayar.payments.errors import (
    GatewayDeclined,
    GatewayUnreachable,
    InvalidRequest,
    NotAllowed,
    OrderNotFound,
    OutOfStock,
    PaymentError,
    ProductNotFound,
)
from bayar.payments.states import PAID_LIKE, Event, Status
from bayar.payments.transitions import (
    RETRY_NOTE,
    UNANSWERED,
    Applied,
    PaidHook,
    Transitions,
)
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import GatewayCall, Order, OrderEvent, OrderItem, Payment, Refund

log = logging.getLogger("bayar.payments")
T = TypeVar("T")
# Called inside the transaction that marks a manual refund done by hand, before it commits (the
# vending domain closes the kiosk unit's dispense here).
RefundHook = Callable[[AsyncSession, Refund, datetime], Awaitable[None]]

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
OPEN = ("pending", "review")
# The refund of a payment that arrived for a closed order: one per order, under this key.
LATE_REFUND_PREFIX = repo.LATE_PAYMENT_PREFIX
# How a refund a person made outside the gateway describes itself (its `detail` starts so).
BY_HAND = "refunded by hand"
# No payment is opened with less than this left of the order's window (Snap counts minutes).
MIN_PAYMENT_WINDOW = timedelta(seconds=60)
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


def declined_attempt(status: str, history: Sequence[OrderEvent]) -> bool:
    """The order is still open and the last thing that happened to it was a declined attempt
    (a card the bank refused, noted with RETRY_NOTE): what the customer is told on the order page,
    with what to do next (another card or method). Anything after it (another method chosen, a
    payment) ends it."""
    return status == Status.PENDING.value and bool(history) and history[-1].note == RETRY_NOTE


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


class PaymentsService(Transitions):
    def __init__(
        self,
        db: Database,
        gateway: Gateway,
        bus: Bus,
        *,
        metrics: Metrics | None = None,
        confirm_paid: bool = True,
        policy: ReconcilePolicy | None = None,
        limits: OrderLimits | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        create_wait: float = 5.0,
    ) -> None:
        self.db = db
        self.gateway = gateway
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
                payment.fraud_status = instructions.fraud_status or payment.fraud_status
                payment.instructions = {
                    k: (v.isoformat() if isinstance(v, datetime) else v)
                    for k, v in vars(instructions).items()
                    if v is not None
                }
                if instructions.expiry_time is not None:
                    payment.expires_at = instructions.expiry_time

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
        if order.status not in ("pending", "review"):
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
        """Refund a paid order, fully or in part. The same refund key never refunds twice. Its
        errors carry the refund key (one bayar made, too), to retry with."""
        key = refund_key or f"{order_id}-{secrets.token_hex(4)}"
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
                if payment is not None and not self.gateway_refunds(payment.payment_type):
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
                if rejected.code != "406":
                    if automatic:
                        await self._refused_to_a_person(refund, rejected.message)
                    else:
                        await self._refund_outcome(refund.id, "failed", rejected.message)
                    raise GatewayDeclined(
                        f"the gateway refused the refund: {rejected.message}", refund_key=key
                    ) from None
                # This key was refunded already (an earlier answer was lost): read the truth.
                status = await self.gateway_status(order_id)
        except GatewayUnavailable:
            await self._refund_outcome(refund.id, "unknown", "the gateway did not answer")
            raise GatewayUnreachable(
                "the gateway did not answer; retry with the same refund_key", refund_key=key
            ) from None
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
        except PaymentError as error:  # unknown: the worker asks again; refused: a person must
            log.warning("late payment refund: %s", error.message, extra={"order_id": order_id})

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
            except PaymentError as error:
                log.warning("refund retried: %s", error.message, extra={"order_id": order_id})
        return last

    # -- the manual-refund queue ("needs attention") ----------------------------------------------

    def gateway_refunds(self, payment_type: str) -> bool:
        """Can the gateway refund a payment of this type? (Midtrans refunds cards and e-wallets;
        bank transfers, bills and store payments only by hand.)"""
        return payment_type in self.gateway.refundable_types

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
