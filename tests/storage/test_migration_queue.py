"""Migration 0006: kiosk units waiting for a manual refund before there was one queue
(their dispense `manual_refund`, their refund `failed` or missing) come into the queue of `manual`
refund rows, and ones resolved by hand earlier say so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from factories import order_row
from sqlalchemy import select, text

from bayar.storage.db import Database
from bayar.storage.migrate import upgrade
from bayar.storage.models import Dispense, Machine, Order, Refund

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _order(order_id: str, status: str = "paid") -> Order:
    return order_row(order_id, at=NOW, status=status, channel="kiosk", machine_id="k1", version=2)


def _dispense(order_id: str, status: str) -> Dispense:
    return Dispense(
        order_id=order_id,
        machine_id="k1",
        slot_code="A1",
        status=status,
        commands=1,
        created_at=NOW,
    )


def _refund(order_id: str, key: str, status: str, **values: str) -> Refund:
    return Refund(
        order_id=order_id,
        refund_key=key,
        amount=7000,
        status=status,
        created_at=NOW,
        updated_at=NOW,
        **values,
    )


async def _before(url: str) -> None:
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            # The table as 0005 left it (the model has grown columns since).
            await session.execute(
                text(
                    "INSERT INTO products (id, name, price, stock, active, created_at)"
                    " VALUES ('cola', 'Cola', 7000, 5, true, :now)"
                ),
                {"now": NOW},
            )
            session.add(Machine(id="k1", name="K1", token_sha256="0" * 64, active=True))
            session.add_all([_order("refused"), _order("missing"), _order("done", "refunded")])
            await session.flush()
            session.add_all(
                [
                    _dispense("refused", "manual_refund"),
                    _dispense("missing", "manual_refund"),
                    _dispense("done", "refunded"),
                    _refund("refused", "dispense-refused", "failed", detail="refused"),
                    _refund("done", "dispense-done", "failed", detail="refused"),
                    _refund(
                        "done",
                        "manual-done",
                        "succeeded",
                        reason="refunded by hand: cash",
                        detail="refunded outside the gateway, marked by an admin",
                    ),
                ]
            )
    finally:
        await db.close()


async def _refunds(url: str) -> list[tuple[str, str, int, str | None]]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = (await session.execute(select(Refund).order_by(Refund.refund_key))).scalars()
            return [(r.refund_key, r.status, r.amount, r.detail) for r in rows]
    finally:
        await db.close()


def test_waiting_kiosk_units_join_the_one_queue(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'old.sqlite3').as_posix()}"
    upgrade(url, "0005")
    asyncio.run(_before(url))

    upgrade(url)

    assert asyncio.run(_refunds(url)) == [
        ("dispense-done", "failed", 7000, "refused"),
        ("dispense-missing", "manual", 7000, "queued for a person before refunds had one queue"),
        ("dispense-refused", "manual", 7000, "refused"),
        ("manual-done", "succeeded", 7000, "refunded by hand: cash"),
    ]
