"""What the worker takes up on each pass, each claim in its own transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from bayar.storage import repositories as repo
from bayar.storage.db import Database


async def claim_due_orders(db: Database, now: datetime, lease: timedelta, limit: int) -> list[str]:
    """Orders whose check is due, claimed for `lease` (repositories.claim_due_orders), committed
    before the caller asks the gateway about them."""
    async with db.session() as session, session.begin():
        return await repo.claim_due_orders(session, now, lease, limit)


async def orders_with_unsettled_refunds(db: Database, before: datetime, limit: int) -> list[str]:
    """Orders with a refund still `requested` or `unknown` since before `before`."""
    async with db.session() as session:
        return await repo.orders_with_unsettled_refunds(session, before, limit)
