"""The gateway calls' audit rows (`gateway_calls`, the order's timeline), one per call.

Written on every confirmed notification. When an apply follows the call (`payments.audit`
holds it), the row goes with the apply's writes (`order_writes`); otherwise on its own: on
PostgreSQL with asyncpg directly, one prepared INSERT in autocommit, not an ORM session's BEGIN,
flush and COMMIT (bench/webhooks.py: that was a tenth of a settlement's CPU). SQLite goes
through SQLAlchemy Core.
"""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert

from bayar.storage.db import Database
from bayar.storage.models import GatewayCall

TABLE = cast(Table, GatewayCall.__table__)
_PG_INSERT = """
INSERT INTO gateway_calls (order_id, operation, outcome, detail, duration_ms, at)
VALUES ($1, $2, $3, $4, $5, $6)
"""


@dataclass(frozen=True, slots=True)
class GatewayCallRow:
    """One row of `gateway_calls`, its fields in the table's order."""

    order_id: str
    operation: str
    outcome: str
    detail: str | None
    duration_ms: int
    at: datetime


async def add_gateway_call(db: Database, row: GatewayCallRow) -> None:
    if db.is_sqlite:
        async with db.engine.begin() as conn:
            await conn.execute(insert(TABLE).values(asdict(row)))
        return
    pool = await db.asyncpg_pool()
    async with pool.acquire() as conn:
        await conn.execute(_PG_INSERT, *astuple(row))
