"""The PostgreSQL and Redis tests use, and throwaway databases on that PostgreSQL: one home for the
statements an administrator runs (CREATE / DROP DATABASE, TRUNCATE, terminating connections).

The synchronous helpers run their coroutine with `asyncio.run` in a thread of their own, so they
work from anywhere: a plain test, a fixture under a running event loop, or a Playwright test (whose
sync API keeps a loop running in the test's thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

T = TypeVar("T")


def postgres_url() -> str:
    """The server tests marked `postgres` use (BAYAR_TEST_POSTGRES_URL or the local default): a
    database on it to connect to as an administrator."""
    return os.environ.get("BAYAR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def redis_url() -> str:
    """The Redis tests marked `redis` use (BAYAR_TEST_REDIS_URL or the local default)."""
    return os.environ.get("BAYAR_TEST_REDIS_URL") or DEFAULT_REDIS_URL


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a thread of its own (see the module's docstring)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(work())` in a thread of its own."""
    return in_thread(lambda: asyncio.run(work()))


async def admin_sql(*statements: str) -> None:
    """Run statements on the administrator's connection (outside any transaction)."""
    connection = await asyncpg.connect(postgres_url())
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_database(prefix: str = "bayar_test", *, migrate: bool = True) -> str:
    """A new `<prefix>_<random>` database, migrated unless told not to; its URL."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    run_async(lambda: admin_sql(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url()).set(database=name).render_as_string(False)
    if migrate:
        from bayar.storage.migrate import upgrade

        try:
            in_thread(upgrade, url)  # Alembic's env runs asyncio.run of its own
        except BaseException:
            drop_database(url)
            raise
    return url


def drop_database(url: str) -> None:
    """Drop the database at `url`, whoever is still connected to it."""
    name = make_url(url).database
    run_async(lambda: admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def fresh_database(prefix: str = "bayar_test", *, migrate: bool = True) -> Iterator[str]:
    """`with fresh_database("bayar_kiosk") as url:` a new database, dropped at the end."""
    url = create_database(prefix, migrate=migrate)
    try:
        yield url
    finally:
        drop_database(url)


async def truncate(url: str) -> None:
    """Empty every table of the database at `url` but Alembic's (the schema stays)."""
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        if names:
            await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


async def terminate_connections(url: str) -> int:
    """Terminate every connection to the database at `url` (as a database restart does); how
    many there were."""
    target = make_url(url)
    admin = await asyncpg.connect(
        target.set(drivername="postgresql", database="postgres").render_as_string(False)
    )
    try:
        killed: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            target.database,
        )
    finally:
        await admin.close()
    return killed
