"""What applying a report writes, under the order's lock or guarded: the order's move, its
payment's reported fields, one line of its history, the inbox row's outcome, the worker's flag
cleared, and the audit rows of the gateway call the report came from.

`OrderWrites` gathers them while the core decides and sends them together (`flush`), just before
the transaction commits. On PostgreSQL that is one statement (each write a data-modifying CTE of
it): one round trip, where each write on its own cost about as much CPU as the lock itself
(bench/webhooks.py's settlements). Outside a transaction the same statement is guarded by the
rows' versions as read instead of a lock held since the read (`Database.quick`). SQLite has no
such CTEs: it runs them one by one, in the same transaction. Each statement is built once per
shape: building one costs more than running it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Executable,
    Table,
    bindparam,
    exists,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.sql.dml import Insert, Update

from bayar.payments.states import OPEN
from bayar.storage import prepared
from bayar.storage.gateway_calls import TABLE as _CALLS
from bayar.storage.gateway_calls import GatewayCallRow
from bayar.storage.models import Notification, Order, OrderEvent, Payment

_ORDERS = cast(Table, Order.__table__)
_PAYMENTS = cast(Table, Payment.__table__)
_EVENTS = cast(Table, OrderEvent.__table__)
_NOTIFICATIONS = cast(Table, Notification.__table__)

# What a gateway report may change on a payment (`payments.verdicts.payment_changes`).
PAYMENT_REPORTED = frozenset(
    ("status", "fraud_status", "transaction_id", "payment_type", "refunded_amount", "instructions")
)


def _move(checked: bool) -> Update:
    cleared: dict[str, Any] = {"next_check_at": None} if checked else {}
    return (
        update(_ORDERS)
        .where(_ORDERS.c.id == bindparam("o_id"))
        .values(
            status=bindparam("o_to"),
            version=_ORDERS.c.version + 1,
            updated_at=bindparam("o_at"),
            **cleared,
        )
    )


_MOVE = {checked: _move(checked) for checked in (False, True)}


@functools.cache
def _payment(fields: frozenset[str]) -> Update:
    values: dict[str, Any] = {name: bindparam(f"p_{name}") for name in sorted(fields)}
    return (
        update(_PAYMENTS)
        .where(_PAYMENTS.c.order_id == bindparam("p_id"))
        .values(**values, updated_at=bindparam("p_at"))
    )


# Each inserted row's columns and the parameters that give their values.
_ROWS: dict[Insert, tuple[Table, dict[str, str]]] = {}


def _insert(table: Table, values: dict[str, str]) -> Insert:
    statement = insert(table).values({column: bindparam(name) for column, name in values.items()})
    _ROWS[statement] = (table, values)
    return statement


_EVENT = _insert(
    _EVENTS,
    {
        "order_id": "e_order",
        "from_status": "e_from",
        "to_status": "e_to",
        "event": "e_event",
        "source": "e_source",
        "ignored": "e_ignored",
        "note": "e_note",
        "at": "e_at",
    },
)
_OUTCOME = (
    update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id == bindparam("n_id"))
    .values(outcome=bindparam("n_outcome"))
)
# A closed order the gateway was just asked about needs no further check.
_DONE_CHECKING = (
    update(_ORDERS)
    .where(
        _ORDERS.c.id == bindparam("d_id"),
        # Each status its own literal, not one expanding list: `prepared` compiles it once.
        _ORDERS.c.status.not_in([literal(s, _ORDERS.c.status.type) for s in sorted(OPEN)]),
        _ORDERS.c.next_check_at.is_not(None),
    )
    .values(next_check_at=None)
)
_CALL_FIELDS = tuple(f.name for f in fields(GatewayCallRow))


@functools.cache
def _call(index: int) -> Insert:
    """The `index`th audit row of an apply. One statement per row: a multi-row VALUES has no
    cache key in SQLAlchemy, so a statement holding one would be compiled again on every run."""
    return _insert(_CALLS, {name: f"c{index}_{name}" for name in _CALL_FIELDS})


# The order SQLite runs the parts in.
_ORDER = ("payment", "move", "done", "event", "outcome")


@functools.cache
def _combined(statements: tuple[Update | Insert, ...]) -> Executable:
    """PostgreSQL: every part as a CTE of one statement. They touch different rows (`move` and
    `done` never go together), so the order they run in does not matter."""
    ctes = [statement.cte(f"w{i}") for i, statement in enumerate(statements)]
    return select(literal_column("1")).add_cte(*ctes)


# Outside a transaction (`DriverConnection.unlocked`) every part is sent only if the order's row
# and then its payment's are, locked, the versions the apply read: the rows as it decided on
# them. Locked in that order, the order's first, as an apply under the order's lock does. A row
# changed since (its xmin is another) drops out of the guard under its lock, PostgreSQL reading
# it again, so a change committed while the write waited is seen too.
_ORDER_GUARD = (
    select(_ORDERS.c.id)
    .where(_ORDERS.c.id == bindparam("g_order"), literal_column("orders.xmin") == bindparam("g_ov"))
    .with_for_update()
    .cte("order_as_read")
)
_GUARD = (
    select(_PAYMENTS.c.order_id)
    .where(
        _PAYMENTS.c.order_id == bindparam("g_payment"),
        literal_column("payments.xmin") == bindparam("g_pv"),
        exists(_ORDER_GUARD.select()),
    )
    .with_for_update()
    .cte("as_read")
)


@functools.cache
def _guarded_part(statement: Update | Insert) -> Update | Insert:
    if isinstance(statement, Update):
        return statement.where(exists(_GUARD.select()))
    table, values = _ROWS[statement]
    row = select(*(bindparam(name, type_=table.c[column].type) for column, name in values.items()))
    return insert(table).from_select(list(values), row.select_from(_GUARD))


@functools.cache
def _guarded(statements: tuple[Update | Insert, ...]) -> Executable:
    """`_combined`, each part only if the rows are as read; it returns one row if they were."""
    ctes = [_guarded_part(statement).cte(f"w{i}") for i, statement in enumerate(statements)]
    return select(literal_column("1")).select_from(_GUARD).add_cte(*ctes)


class OrderWrites:
    """The writes of one apply to `order_id`, sent together by `flush`."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        # Each part by name: its statement (built once) and its parameters.
        self._parts: dict[str, tuple[Update | Insert, dict[str, Any]]] = {}

    def _add(self, name: str, statement: Update | Insert, params: dict[str, Any]) -> None:
        if name in self._parts:
            raise ValueError(f"one {name} per apply")
        self._parts[name] = (statement, params)

    def move(self, to: str, at: datetime, *, checked: bool) -> None:
        """The order to `to`, its version up by one; `checked`: nothing left to ask the gateway."""
        self._parts.pop("done", None)  # see done_checking
        self._add("move", _MOVE[checked], {"o_id": self.order_id, "o_to": to, "o_at": at})

    def payment(self, changes: Mapping[str, object], at: datetime) -> None:
        """The payment's fields in `changes` (only those a gateway report sets)."""
        if not changes.keys() <= PAYMENT_REPORTED:
            stray = sorted(changes.keys() - PAYMENT_REPORTED)
            raise ValueError(f"not a reported payment field: {stray}")
        params = {f"p_{name}": value for name, value in changes.items()}
        statement = _payment(frozenset(changes))
        self._add("payment", statement, {**params, "p_id": self.order_id, "p_at": at})

    def event(
        self,
        *,
        before: str,
        after: str,
        event: str,
        source: str,
        note: str | None,
        at: datetime,
        ignored: bool = False,
    ) -> None:
        """A line of the order's history: a transition, or what was not acted on (`ignored`)."""
        params = {
            "e_order": self.order_id,
            "e_from": before,
            "e_to": after,
            "e_event": event,
            "e_source": source,
            "e_ignored": ignored,
            "e_note": note,
            "e_at": at,
        }
        self._add("event", _EVENT, params)

    def ignored(self, status: str, event: str, source: str, note: str | None, at: datetime) -> None:
        """History keeps what was not acted on in `status`, and why."""
        self.event(
            before=status, after=status, event=event, source=source, note=note, at=at, ignored=True
        )

    def outcome(self, notification_id: int, outcome: str) -> None:
        """The inbox row's outcome."""
        self._add("outcome", _OUTCOME, {"n_id": notification_id, "n_outcome": outcome})

    def gateway_calls(self, rows: Sequence[GatewayCallRow]) -> None:
        """Audit rows of the gateway calls behind this apply (on PostgreSQL they take their
        ids in no set order: read them by `at`)."""
        if rows and any(name.startswith("call") for name in self._parts):
            raise ValueError("one list of gateway calls per apply")
        for i, row in enumerate(rows):
            params = {f"c{i}_{name}": getattr(row, name) for name in _CALL_FIELDS}
            self._add(f"call{i}", _call(i), params)

    def done_checking(self) -> None:
        """The worker's flag cleared if the order is closed. Implied by a `move` (to a closed
        status it clears the flag; to an open one there is nothing to clear)."""
        if "move" not in self._parts:
            self._add("done", _DONE_CHECKING, {"d_id": self.order_id})

    async def flush(self, conn: prepared.Connection) -> None:
        """Send what was gathered, inside `conn`'s transaction; then nothing is pending. Outside
        a transaction, only if the order and its payment are as `lock_order_with_payment` read
        them on `conn`; else nothing is written and `NeedsTransaction` is raised."""
        parts = [self._parts[name] for name in _ORDER if name in self._parts]
        parts += [part for name, part in self._parts.items() if name.startswith("call")]
        self._parts = {}
        if not parts:
            return
        if conn.dialect.name != "postgresql":
            for statement, params in parts:
                await prepared.execute(conn, statement, params)
            return
        combined: dict[str, Any] = {}
        for _statement, params in parts:
            combined.update(params)
        statements = tuple(statement for statement, _ in parts)
        read = conn.unlocked if isinstance(conn, prepared.DriverConnection) else None
        if read is None:
            await prepared.execute(conn, _combined(statements), combined)
            return
        if read.order is None or read.payment is None:  # not read, or no payment to guard
            raise prepared.NeedsTransaction
        combined.update(g_order=self.order_id, g_ov=read.order)
        combined.update(g_payment=self.order_id, g_pv=read.payment)
        if not await prepared.execute(conn, _guarded(statements), combined):
            raise prepared.NeedsTransaction
