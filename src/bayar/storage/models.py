"""Tables. Money columns are integer rupiah; times are stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bayar.payments.states import Status


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An order's status as the `Status` enum, kept as its text (VARCHAR(32): no database enum type and
# no CHECK, so a new status needs no migration); a value that is not a status is refused on write.
StatusText = Enum(
    Status,
    native_enum=False,
    create_constraint=False,
    length=32,
    values_callable=lambda statuses: [s.value for s in statuses],
    validate_strings=True,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


# A big integer that is still an autoincrementing rowid on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(BigInteger)
    # Units free to sell; an order reserves by taking them out and gives them back if unpaid.
    stock: Mapped[int] = mapped_column(Integer)
    image_url: Mapped[str | None] = mapped_column(String(500))
    # On sale (shown in the shop and on the kiosks); the owner hides and shows a product.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    # Left sale for good (never active again); kept for the orders and reports that name it.
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)  # the gateway's order_id
    # A `Status` when read; typed str while the transition code still assigns the text (the
    # webhook work rewrites that code: then Mapped[Status]).
    status: Mapped[str] = mapped_column(StatusText, index=True)
    channel: Mapped[str] = mapped_column(String(16))  # shop | kiosk | api
    machine_id: Mapped[str | None] = mapped_column(String(64), index=True)
    gross_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="IDR")
    payment_type: Mapped[str] = mapped_column(String(32))
    customer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # SHA-256 of the create request: the same Idempotency-Key with another request is refused.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    # When the worker should next ask the gateway about this order (None: nothing to ask).
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    slot_code: Mapped[str | None] = mapped_column(
        String(16)
    )  # kiosk orders: the slot it comes from
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)


class Payment(Base):
    """The gateway transaction of an order, as last reported by the gateway."""

    __tablename__ = "payments"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payment_type: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(
        String(32)
    )  # the gateway's transaction_status, or "unknown"
    fraud_status: Mapped[str | None] = mapped_column(String(16))
    instructions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime | None]
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """The inbox: every notification received, raw, once per dedupe key."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    transaction_status: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)  # whole if signed, else a capped prefix
    body_bytes: Mapped[int | None] = mapped_column(Integer)  # the size of the body received
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature_valid: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderEvent(Base):
    """The order's history: every transition and every ignored late event."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_at", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"))
    from_status: Mapped[Status | None] = mapped_column(StatusText)
    to_status: Mapped[Status] = mapped_column(StatusText)
    event: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(
        String(16)
    )  # api | webhook | reconcile | expiry | admin | kiosk
    ignored: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    refund_key: Mapped[str] = mapped_column(String(100), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # requested | succeeded | failed | unknown
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GatewayCall(Base):
    """Every outbound gateway call made for an order, for its timeline."""

    __tablename__ = "gateway_calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    operation: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Machine(Base):
    """A vending kiosk. Its secret token is kept only as a SHA-256 digest."""

    __tablename__ = "machines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Slot(Base):
    """What a machine holds: a machine sells what its slots hold."""

    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("machine_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    stock: Mapped[int] = mapped_column(Integer)  # units free to sell (reserved ones taken out)
    capacity: Mapped[int] = mapped_column(Integer)


class Dispense(Base):
    """The one dispense of a paid kiosk order. Its status moves by compare-and-set only, so a
    payment is dispensed at most once whatever duplicates, reconnects and retries race."""

    __tablename__ = "dispenses"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"), index=True)
    slot_code: Mapped[str] = mapped_column(String(16))
    # pending | commanded | dispensed | failed | refunded | refund_retry | manual_refund
    status: Mapped[str] = mapped_column(String(16), index=True)
    commands: Mapped[int] = mapped_column(Integer, default=0)
    # The kiosk socket that was sent the DISPENSE command: only its DISPENSE_RESULT counts.
    connection_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    commanded_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdminSession(Base):
    """A login to the admin pages, so that it can be ended on the server. The signed cookie
    carries the session's random id; only the id's SHA-256 is kept here (the table holds no
    usable cookie). Logging out deletes the row; a session opened under another admin password
    (its `password_tag`) is over."""

    __tablename__ = "admin_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_tag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
