"""One apply's cost on PostgreSQL, in CPU of this client and of PostgreSQL: under the order's lock
in a transaction, against `Database.quick`'s guarded write outside one.

    .venv/bin/python bench/apply.py [--applies 3000]

Each apply is a settlement's: the order and its payment read, then the payment's status, the
order's move and a history line written as one statement (`OrderWrites`), on one asyncpg
connection, one apply at a time. `locked` is BEGIN, the locked read, the write and COMMIT (four
round trips, what `Database.quick` did before it ran outside a transaction); `guarded` is the read
and the guarded write (two). The two alternate in rounds, each on orders of its own, so the
machine's noise falls on both. Client CPU is this process's user + system time (the round trips'
system calls count); PostgreSQL's is every postgres process's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bayar.storage import repositories as repo
from bayar.storage.db import Database, Tx
from bayar.storage.migrate import upgrade
from bayar.storage.order_writes import OrderWrites
from bayar.storage.prepared import DriverConnection
from benchlib import CLK_TCK, PG_BASE, create_db, drop_db, own_cpu, postgres_ticks

# The tests' factories write an order's and a payment's rows as the payments service does.
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "support"))
from factories import order_row, payment_row

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ROUNDS = 6


async def add_orders(db: Database, ids: list[str]) -> None:
    """Pending orders with their pending payments, as the tests' factories write them."""
    async with db.transaction() as tx:
        tx.session.add_all(order_row(order_id, at=NOW) for order_id in ids)
        await tx.session.flush()
        tx.session.add_all(payment_row(order_id, at=NOW) for order_id in ids)


async def settle(tx: Tx, order_id: str) -> None:
    read = await repo.lock_order_with_payment(tx.conn, order_id)
    assert read is not None
    writes = OrderWrites(order_id)
    writes.payment({"status": "settlement"}, NOW)
    writes.move("paid", NOW, checked=True)
    writes.event(
        before=read[0].status,
        after="paid",
        event="payment_succeeded",
        source="bench",
        note=None,
        at=NOW,
    )
    await writes.flush(tx.conn)


async def main(args: argparse.Namespace) -> None:
    name = f"bayar_bench_apply_{os.getpid()}"
    await create_db(name)
    url = f"{PG_BASE}/{name}"
    db = Database(url, pool_size=1)
    try:
        await asyncio.to_thread(upgrade, url)
        per_round = args.applies // ROUNDS
        pool = await db.asyncpg_pool()

        async def locked(order_id: str) -> None:
            async with pool.acquire() as raw, raw.transaction():
                await settle(Tx(db, DriverConnection(raw, db.engine.dialect)), order_id)

        async def guarded(order_id: str) -> None:
            async def work(tx: Tx) -> None:
                await settle(tx, order_id)

            await db.quick(work)

        ways: dict[str, Callable[[str], Awaitable[None]]] = {"locked": locked, "guarded": guarded}
        totals = {way: [0.0, 0.0, 0.0] for way in ways}  # client s, postgres s, wall s
        for round_ in range(ROUNDS + 1):  # round 0 warms up
            for way, apply in ways.items():
                ids = [f"{way}-{round_}-{i}" for i in range(per_round)]
                await add_orders(db, ids)
                client0, ticks0, wall0 = own_cpu(), postgres_ticks(), time.perf_counter()
                for order_id in ids:
                    await apply(order_id)
                if round_ == 0:
                    continue
                total = totals[way]
                total[0] += own_cpu() - client0
                total[1] += (postgres_ticks() - ticks0) / CLK_TCK
                total[2] += time.perf_counter() - wall0
        count = per_round * ROUNDS
        print(f"{count} applies each way, one at a time, on one connection; ms per apply:")
        print(f"{'':8} {'client CPU':>10} {'postgres CPU':>12} {'both':>6} {'wall':>6}")
        for way, (client, postgres, wall) in totals.items():
            both = client + postgres
            print(
                f"{way:8} {1000 * client / count:10.3f} {1000 * postgres / count:12.3f}"
                f" {1000 * both / count:6.3f} {1000 * wall / count:6.3f}"
            )
        saved = 1 - sum(totals["guarded"][:2]) / sum(totals["locked"][:2])
        print(f"guarded: {saved:.0%} less CPU (client + postgres) than locked")
    finally:
        await db.close()
        await drop_db(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applies", type=int, default=3000, help="per way")
    asyncio.run(main(parser.parse_args()))
