"""Checkout: price the cart on the server, reserve the stock, create the order, then its gateway
transaction (once, whoever retries with the same Idempotency-Key)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from bayar.gateways.base import (
    ChargeRequest,
    Customer,
    GatewayRejected,
    GatewayUnavailable,
    LineItem,
    PaymentInstructions,
    SnapRequest,
)
from bayar.gateways.methods import KIOSK_TYPES, Bank, PaymentType, Store
from bayar.i18n import N_
from bayar.payments.errors import InvalidRequest, OutOfStock, ProductNotFound
from bayar.payments.states import Event, Status
from bayar.payments.verdicts import UNANSWERED
from bayar.storage import repositories as repo
from bayar.storage.models import Order, OrderEvent, OrderItem, Payment
from bayar.storage.snapshots import OrderSnapshot

if TYPE_CHECKING:
    from bayar.payments.service import PaymentsService

log = logging.getLogger("bayar.payments.checkout")


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
    if checkout.gateway is not None:  # (absent otherwise: digests of earlier orders still hold)
        data["gateway"] = checkout.gateway
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# How long a customer has to pay, per payment type (the gateway is told the same).
PAYMENT_WINDOW = {
    "qris": timedelta(minutes=15),
    "gopay": timedelta(minutes=15),
    "snap": timedelta(hours=1),
}


DEFAULT_WINDOW = timedelta(hours=24)


# No payment is opened with less than this left of the order's window (Snap counts minutes).
MIN_PAYMENT_WINDOW = timedelta(seconds=60)


MAX_QUANTITY = 100


MAX_LINES = 50


def new_order_id(now: datetime) -> str:
    return f"BYR-{now:%Y%m%d}-{secrets.token_hex(5).upper()}"


class Checkouts:
    def __init__(self, core: PaymentsService, *, create_wait: float = 5.0) -> None:
        self.core = core
        self.db, self.gateway, self.now = core.db, core.gateway, core.now
        self.policy, self.limits = core.policy, core.limits
        # Real seconds a retried create waits for the same order's call in flight before
        # answering with the order as it is (202).
        self.create_wait = create_wait
        self._creating: dict[str, asyncio.Event] = {}

    async def create_transaction(self, checkout: Checkout) -> tuple[OrderSnapshot, bool]:
        """Price the cart, reserve the stock, create the order, then the gateway transaction.
        The flag is True when the Idempotency-Key named an order made earlier."""
        self._validate(checkout)
        self._check_limits(checkout)
        fingerprint = request_fingerprint(checkout)
        if checkout.idempotency_key:
            async with self.db.session() as session:
                existing = await repo.order_by_idempotency_key(session, checkout.idempotency_key)
            if existing is not None:
                return OrderSnapshot.of(await self._resume(existing, checkout, fingerprint)), True
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
            return OrderSnapshot.of(await self._resume(existing, checkout, fingerprint)), True
        await self._open_payment(order, lines, checkout)  # its payment row was made "creating"
        return OrderSnapshot.of(order), False

    def _check_limits(self, checkout: Checkout) -> None:
        """Bounds on what one order may hold (issue 8: one anonymous order emptied the catalog)."""
        units = sum(line.quantity for line in checkout.items)
        if units > self.limits.max_units:
            raise InvalidRequest(
                N_("at most %(most)s units per order; this cart has %(units)s"),
                most=self.limits.max_units,
                units=units,
            )

    def _validate(self, checkout: Checkout) -> None:
        if not checkout.items:
            raise InvalidRequest(N_("the cart is empty"))
        if len(checkout.items) > MAX_LINES:
            raise InvalidRequest(N_("at most %(most)s lines per order"), most=MAX_LINES)
        for line in checkout.items:
            if line.quantity < 1 or line.quantity > MAX_QUANTITY:
                raise InvalidRequest(
                    N_("quantity of %(product)s must be between 1 and %(most)s"),
                    product=line.product_id,
                    most=MAX_QUANTITY,
                )
        if checkout.gateway is not None and checkout.gateway not in self.gateway.names:
            raise InvalidRequest(
                f"gateway {checkout.gateway} is not configured here; use"
                f" {' or '.join(self.gateway.names)}"
            )
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
                        raise ProductNotFound(
                            N_("unknown product '%(product)s'"), product=product_id
                        )
                    if checkout.machine_id:
                        raise OutOfStock(
                            N_("not enough %(name)s (in this machine): %(wanted)s asked"),
                            name=found.name,
                            wanted=wanted,
                        )
                    raise OutOfStock(
                        N_("not enough %(name)s (%(left)s left): %(wanted)s asked"),
                        name=found.name,
                        left=found.stock,
                        wanted=wanted,
                    )
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
                raise InvalidRequest(N_("this cart totals Rp 0: there is nothing to pay"))
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
        async with self.db.session() as session:  # as the call waited for left it
            order = await session.get(Order, order.id) or order
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
                instructions = await self.gateway.create_snap(
                    SnapRequest(
                        order_id=order.id,
                        gross_amount=order.gross_amount,
                        items=items,
                        customer=checkout.customer,
                        expiry_seconds=max(window, 60),
                        finish_url=checkout.finish_url,
                        expiry_start=started,
                    )
                )
            else:
                instructions = await self.gateway.charge(
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
                )
        except GatewayUnavailable:
            await self._set_payment(order.id, status="unknown")
            log.warning("gateway unreachable while creating", extra={"order_id": order.id})
            return
        except GatewayRejected as rejected:
            await self.core.apply_event(
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
