"""The machine registry's rows: machines (their secret token kept only as a digest) and slots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from bayar.storage.db import Database
from bayar.storage.models import Machine, Product, Slot


@dataclass(frozen=True)
class MachineSnapshot:
    id: str
    name: str
    location: str | None
    active: bool
    token_sha256: str = field(repr=False)

    @classmethod
    def of(cls, row: Machine) -> MachineSnapshot:
        return cls(row.id, row.name, row.location, row.active, row.token_sha256)


async def add_machine(
    db: Database,
    machine_id: str,
    name: str,
    location: str | None,
    token_sha256: str,
    slots: Sequence[tuple[str, str, int, int]],
) -> None:
    """A machine and its slots (code, product_id, stock, capacity), in one transaction."""
    async with db.session() as session, session.begin():
        session.add(Machine(id=machine_id, name=name, location=location, token_sha256=token_sha256))
        await session.flush()
        session.add_all(
            Slot(
                machine_id=machine_id, code=code, product_id=product, stock=stock, capacity=capacity
            )
            for code, product, stock, capacity in slots
        )


async def machine(db: Database, machine_id: str) -> MachineSnapshot | None:
    async with db.session() as session:
        found = await session.get(Machine, machine_id)
        return None if found is None else MachineSnapshot.of(found)


async def missing_products(db: Database, product_ids: Sequence[str]) -> list[str]:
    """Those of `product_ids` that name no product (archived ones exist), in the order given."""
    async with db.session() as session:
        found = await session.execute(select(Product.id).where(Product.id.in_(set(product_ids))))
        known = set(found.scalars().all())
    return [p for p in product_ids if p not in known]


async def set_token(db: Database, machine_id: str, token_sha256: str) -> bool:
    """False when there is no such machine."""
    return await _set(db, machine_id, token_sha256=token_sha256)


async def set_active(db: Database, machine_id: str, active: bool) -> bool:
    """False when there is no such machine."""
    return await _set(db, machine_id, active=active)


async def seen(db: Database, machine_id: str, now: datetime) -> None:
    await _set(db, machine_id, last_seen_at=now)


async def _set(db: Database, machine_id: str, **values: object) -> bool:
    async with db.session() as session, session.begin():
        result = await session.execute(
            update(Machine).where(Machine.id == machine_id).values(**values).returning(Machine.id)
        )
        return result.scalar_one_or_none() is not None
