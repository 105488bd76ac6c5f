"""The gateway calls' audit rows (`gateway_calls`, the order's timeline), one per call.

Written on every confirmed notification, so PostgreSQL is spoken to with asyncpg directly: one
prepared INSERT in autocommit, not an ORM session's BEGIN, flush and COMMIT (bench/webhooks.py:
that was a tenth of a settlement's CPU). SQLite goes through SQLAlchemy Core.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert

from bayar.storage.db import Database
from bayar.storage.models import GatewayCall

_TABLE = cast(Table, GatewayCall.__table__)
_PG_INSERT = """
INSERT INTO gateway_calls (order_id, operation, outcome, detail, duration_ms, at)
VALUES ($1, $2, $3, $4, $5, $6)
"""


async def add_gateway_call(
    db: Database,
    *,
    order_id: str,
    operation: str,
    outcome: str,
    detail: str | None,
    duration_ms: int,
    at: datetime,
) -> None:
    if db.is_sqlite:
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(_TABLE).values(
                    order_id=order_id,
                    operation=operation,
                    outcome=outcome,
                    detail=detail,
                    duration_ms=duration_ms,
                    at=at,
                )
            )
        return
    pool = await db.asyncpg_pool()
    async with pool.acquire() as conn:
        await conn.execute(_PG_INSERT, order_id, operation, outcome, detail, duration_ms, at)
