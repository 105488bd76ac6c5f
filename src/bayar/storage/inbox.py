"""The inbox's two statements on the webhook path, and nothing else.

`look`: is this body in the inbox already, and what do its order and payment say (a plain read,
no lock, no transaction). `keep`: the body into the inbox with the outcome decided from that
look, and, in the same statement, the order flagged for the worker when the notification goes on
to be applied (so a process that dies before applying it leaves the worker a note, never a lost
notification), and its payment read for that apply (`InboxVisit.as_read`). A body that is
already there is not kept again (None).

They run on every notification Midtrans sends, so PostgreSQL is spoken to with asyncpg directly
(prepared statements, no ORM, no SQLAlchemy round trip through greenlets): one round trip for a
duplicate, two for a new body, on one pooled connection. SQLite goes through SQLAlchemy Core, the
same two steps.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Table, bindparam, exists, select, update
from sqlalchemy.dialects import sqlite

from bayar.storage.db import LOST, Database
from bayar.storage.models import Notification, Order, Payment
from bayar.storage.order_facts import (
    FACTS,
    AsRead,
    OrderFacts,
    PaymentFacts,
    facts_of,
    order_of,
    payment_of,
)


@dataclass(frozen=True, slots=True)
class Look:
    """`InboxStore.look`: the body is in the inbox already (`seen`), or its order (None: not
    here) and that order's payment."""

    seen: bool
    order: OrderFacts | None
    payment: PaymentFacts | None


_PG_LOOK = """
SELECT EXISTS (SELECT 1 FROM notifications WHERE dedupe_key = $1) AS seen,
       o.id, o.status, o.gross_amount, o.currency, o.payment_type, o.expires_at,
       o.machine_id, p.status, p.fraud_status, p.transaction_id, p.payment_type, p.refunded_amount,
       p.gateway, o.xmin AS order_version
FROM (SELECT 1) AS one
LEFT JOIN orders AS o ON o.id = $2
LEFT JOIN payments AS p ON p.order_id = o.id
"""
_PG_KEEP = """
WITH kept AS (
    INSERT INTO notifications (dedupe_key, order_id, transaction_status, body, body_bytes,
                               headers, signature_valid, outcome, received_at)
    VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
), flagged AS (
    UPDATE orders SET next_check_at = $11
    WHERE id = $10 AND (next_check_at IS NULL OR next_check_at > $11)
      AND EXISTS (SELECT 1 FROM kept)
    RETURNING id, status, gross_amount, currency, payment_type, expires_at, machine_id,
              xmin AS order_version
)
SELECT k.id AS kept, f.*, p.xmin AS payment_version, p.status, p.fraud_status, p.transaction_id,
       p.payment_type, p.refunded_amount, p.gateway, p.instructions
FROM kept AS k
LEFT JOIN flagged AS f ON true
LEFT JOIN payments AS p ON p.order_id = $10
"""
_COLUMNS = (
    "dedupe_key",
    "order_id",
    "transaction_status",
    "body",
    "body_bytes",
    "headers",
    "signature_valid",
    "outcome",
    "received_at",
)


def _pg_facts(row: asyncpg.Record) -> Look:
    if row[1] is None:
        return Look(bool(row[0]), None, None)
    return Look(bool(row[0]), *facts_of(row[1:14]))


class InboxStore:
    """The inbox's statements, on PostgreSQL (asyncpg) or SQLite (SQLAlchemy Core)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def visit(self) -> AsyncIterator[InboxVisit]:
        """One notification's look and then its keep. On PostgreSQL both run on one pooled
        connection, held between them: a checkout and its return cost about as much CPU as a
        statement. Leave the block before calling out (the status API): it gives the
        connection back."""
        visit = InboxVisit(self.db)
        try:
            yield visit
        finally:
            await visit.close()

    async def look(self, dedupe_key: str, order_id: str | None) -> Look:
        async with self.visit() as visit:
            return await visit.look(dedupe_key, order_id)

    async def keep(
        self, values: dict[str, Any], *, flag: str | None = None, at: datetime | None = None
    ) -> int | None:
        async with self.visit() as visit:
            return await visit.keep(values, flag=flag, at=at)


class InboxVisit:
    """`InboxStore.visit`: the two statements, on the connection taken by the first of them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record] | None = None
        self._order: tuple[OrderFacts, int] | None = None  # the look's, with its version
        self.as_read: AsRead | None = None
        """On PostgreSQL, after the keep of a notification that goes on (a flagged one), its
        order and payment, each with its row's version: the order as the look read it or as
        the flag wrote it, the payment as the keep read it. Its apply takes them instead of
        reading again (`Database.quick`). None on SQLite, or for an order without a payment."""

    async def look(self, dedupe_key: str, order_id: str | None) -> Look:
        if self.db.is_sqlite:
            return await _sql_look(self.db, dedupe_key, order_id)
        row = await self._pg("fetchrow", _PG_LOOK, dedupe_key, order_id)
        look = _pg_facts(row)
        if look.order is not None:
            self._order = look.order, row["order_version"]
        return look

    async def keep(
        self, values: dict[str, Any], *, flag: str | None = None, at: datetime | None = None
    ) -> int | None:
        """The body into the inbox (None: it is there already); `flag`: the order to have the
        worker look at by `at`, in the same statement."""
        if flag is not None and at is None:
            raise ValueError("a flagged order needs the time to look at it by")
        if self.db.is_sqlite:
            return await _sql_keep(self.db, values, flag, at)
        args = [values.get(c) for c in _COLUMNS]
        args[5] = json.dumps(values["headers"])
        row = await self._pg("fetchrow", _PG_KEEP, *args, flag, at)
        if row is None:
            return None
        self.as_read = self._as_read(row, flag)
        return cast(int, row["kept"])

    def _as_read(self, kept: asyncpg.Record, flag: str | None) -> AsRead | None:
        """The flagged order and its payment after the keep. Each fact goes with the version of
        the row it was read from: the flag made a new version of the order's row, returned as
        written (the look's may be older still)."""
        if kept["payment_version"] is None:  # not flagged, or no payment
            return None
        order = self._order
        if kept["order_version"] is not None:
            order = order_of(kept[1:8]), kept["order_version"]
        if order is None or order[0].id != flag:
            return None
        payment = payment_of(kept[10:])
        return AsRead(order[0], payment, order[1], kept["payment_version"])

    async def _pg(self, method: str, query: str, *args: Any) -> Any:
        if self._conn is None:
            self._conn = await (await self.db.asyncpg_pool()).acquire()
        try:
            return await getattr(self._conn, method)(query, *args)
        except LOST:
            # The database restarted under warm pools: both are renewed, so neither this
            # statement sent again nor the next request meets a dead connection; both
            # statements may be sent again (a body kept twice is kept once).
            await self.close()
            await self.db.renew()
            self._conn = await (await self.db.asyncpg_pool()).acquire()
            return await getattr(self._conn, method)(query, *args)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await (await self.db.asyncpg_pool()).release(conn)


# -- SQLite ----------------------------------------------------------------------------------------


async def _sql_look(db: Database, dedupe_key: str, order_id: str | None) -> Look:
    async with db.engine.connect() as conn:
        seen = (await conn.execute(_SQL_SEEN, {"dedupe_key": dedupe_key})).scalar()
        row = None
        if order_id is not None:
            row = (await conn.execute(_SQL_FACTS, {"order_id": order_id})).first()
    if row is None:
        return Look(bool(seen), None, None)
    return Look(bool(seen), *facts_of(row))


async def _sql_keep(
    db: Database, values: dict[str, Any], flag: str | None, at: datetime | None
) -> int | None:
    async with db.engine.begin() as conn:
        found = (await conn.execute(_SQL_INSERT, {"body_bytes": None, **values})).scalar()
        if found is not None and flag is not None:
            await conn.execute(_SQL_FLAG, {"order_id": flag, "at": at})
    return cast(int | None, found)


_NOTIFICATIONS = cast(Table, Notification.__table__)
_ORDERS = cast(Table, Order.__table__)
_PAYMENTS = cast(Table, Payment.__table__)
_SQL_SEEN = select(exists().where(_NOTIFICATIONS.c.dedupe_key == bindparam("dedupe_key")))
_SQL_FACTS = FACTS.where(_ORDERS.c.id == bindparam("order_id"))
_SQL_INSERT = (
    sqlite.insert(_NOTIFICATIONS)
    .values({c.key: bindparam(c.key, type_=c.type) for c in _NOTIFICATIONS.c if c.key != "id"})
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(_NOTIFICATIONS.c.id)
)
_SQL_FLAG = (
    update(_ORDERS)
    .where(
        _ORDERS.c.id == bindparam("order_id"),
        _ORDERS.c.next_check_at.is_(None) | (_ORDERS.c.next_check_at > bindparam("at")),
    )
    .values(next_check_at=bindparam("at"))
)
