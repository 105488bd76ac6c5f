"""`bayar db upgrade`: Alembic migrations, run programmatically with the configured URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from bayar.storage.db import async_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision`. Runs its own event loop: call it outside one."""
    command.upgrade(alembic_config(url), revision)
