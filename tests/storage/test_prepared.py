"""`storage.prepared`: a statement compiled once, its values still checked by their column types,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from factories import order_row
from harness import ONLY_POSTGRES
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import StatementError

from bayar.payments.states import OPEN
from bayar.storage import prepared
from bayar.storage.db import Database
from bayar.storage.models import Order

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ORDERS = cast(Table, Order.__table__)
MOVE = (
    update(ORDERS)
    .where(ORDERS.c.id == bindparam("o_id"))
    .values(status=bindparam("to"), updated_at=bindparam("at"), version=ORDERS.c.version + 1)
)


async def _order(db: Database, order_id: str) -> None:
    async with db.session() as session, session.begin():
        session.add(order_row(order_id, at=NOW))


async def _run(db: Database, params: dict[str, Any]) -> None:
    async with db.engine.begin() as conn:
        await prepared.execute(conn, MOVE, params)


async def test_a_statement_runs_with_its_literals_and_is_compiled_once(database: Database) -> None:
    await _order(database, "o-1")
    later = NOW + timedelta(seconds=1)
    await _run(database, {"o_id": "o-1", "to": "paid", "at": later})
    misses = prepared._compiled.cache_info().misses
    await _run(database, {"o_id": "o-1", "to": "refunded", "at": later})
    assert prepared._compiled.cache_info().misses == misses
    async with database.engine.connect() as conn:
        status, version, at = (
            await conn.execute(select(ORDERS.c.status, ORDERS.c.version, ORDERS.c.updated_at))
        ).one()
    assert (status, version, at) == ("refunded", 3, later)


async def test_values_are_checked_by_their_column_types(database: Database) -> None:
    await _order(database, "o-2")
    with pytest.raises((StatementError, LookupError)):
        await _run(database, {"o_id": "o-2", "to": "not-a-status", "at": NOW})
    with pytest.raises((StatementError, ValueError)):
        await _run(database, {"o_id": "o-2", "to": "paid", "at": NOW.replace(tzinfo=None)})
    with pytest.raises((StatementError, KeyError)):
        await _run(database, {"o_id": "o-2", "to": "paid"})
    async with database.engine.connect() as conn:
        assert (await conn.execute(select(ORDERS.c.status))).scalar_one() == "pending"


@ONLY_POSTGRES
async def test_an_expanding_list_is_refused(database: Database) -> None:
    """`IN` with one list parameter is expanded per run: not a statement to compile once."""
    statement = select(ORDERS.c.id).where(ORDERS.c.status.in_(sorted(OPEN)))
    async with database.engine.connect() as conn:
        with pytest.raises(ValueError, match="plain positional"):
            await prepared.execute(conn, statement, {})
