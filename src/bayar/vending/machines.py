"""The machine registry: machines, their secret tokens (kept hashed) and their slots."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from pathlib import Path

from bayar.storage import machines as registry
from bayar.storage.db import Database
from bayar.storage.machines import MachineSnapshot

DEMO_MACHINE = ("demo-1", "Demo Kiosk", "Lobby")
DEMO_SLOTS = (
    ("A1", "cola", 10, 10),
    ("A2", "lemon", 10, 10),
    ("A3", "teh-manis", 10, 10),
    ("B1", "kopi-susu", 10, 10),
    ("B2", "air-mineral", 10, 10),
    ("B3", "jeruk", 10, 10),
)
TOKEN_FILE = "demo-kiosk.token"  # noqa: S105 (a file name)


def plausible_id(machine_id: str) -> bool:
    """Could this name a machine (ids are at most 64 characters, never with NUL)? Checked
    before the database is asked: PostgreSQL refuses NUL in text."""
    return 0 < len(machine_id) <= 64 and "\x00" not in machine_id


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_machine(
    db: Database,
    machine_id: str,
    name: str,
    location: str | None,
    slots: Sequence[tuple[str, str, int, int]],
    token: str | None = None,
) -> str:
    """Register a machine with its slots (code, product_id, stock, capacity); its secret token."""
    secret = token or secrets.token_urlsafe(24)
    await registry.add_machine(db, machine_id, name, location, token_digest(secret), slots)
    return secret


async def authenticate(db: Database, machine_id: str, token: str | None) -> MachineSnapshot | None:
    if not plausible_id(machine_id):
        return None
    machine = await registry.machine(db, machine_id)
    if machine is None or not machine.active or not token:
        return None
    if not hmac.compare_digest(machine.token_sha256, token_digest(token)):
        return None
    return machine


async def ensure_demo_machine(db: Database, var_dir: Path) -> tuple[str, str]:
    """The demo machine of a first start; its token is kept in var/ so `bayar up` can print it."""
    machine_id, name, location = DEMO_MACHINE
    token_path = var_dir / TOKEN_FILE
    exists = await registry.machine(db, machine_id) is not None
    if exists and token_path.is_file():
        return machine_id, token_path.read_text().strip()
    token = secrets.token_urlsafe(24)
    if exists:
        await registry.set_token(db, machine_id, token_digest(token))
    else:
        await create_machine(db, machine_id, name, location, DEMO_SLOTS, token)
    _write_secret(token_path, token)
    return machine_id, token


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secret + "\n")
    path.chmod(0o600)
