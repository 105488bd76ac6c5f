"""The database engine and its sessions. SQLite writers take the lock up front (BEGIN IMMEDIATE),
so a read-then-write transaction never fails half way with "database is locked"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bayar.storage.order_facts import AsRead
from bayar.storage.prepared import Connection, DriverConnection, NeedsTransaction, RowVersions

T = TypeVar("T")

# What a database driver raises, under the storage layer's name: the API's error handler catches
# it without knowing SQLAlchemy.
DatabaseError = DBAPIError


def async_url(url: str) -> str:
    """DATABASE_URL as users write it, with the async driver SQLAlchemy needs."""
    parsed = make_url(url)
    driver = {
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
    }.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


# What asyncpg raises on a connection the database dropped (it restarted): the pool opens a new
# one.
LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a killed connection caught mid-exchange
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    ConnectionError,
)


def lost_connection(error: DatabaseError) -> bool:
    """The database dropped the connection (it restarted): SQLAlchemy has renewed the pool, the
    transaction is gone, and the same work may simply be done again."""
    return error.connection_invalidated


def default_url(var_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(var_dir / 'bayar.sqlite3').as_posix()}"


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # No ping before each checkout: it is a round trip per request (a quarter of a
            # webhook's cost). After a database restart the first statement on a dead connection
            # fails, SQLAlchemy drops every connection of the pool, and callers retry (the inbox
            # does at once; Midtrans and the kiosk retry too).
            # No overflow: SQLAlchemy closes an overflow connection as soon as it is returned,
            # and under a steady load above `pool_size` (360 settlements/s in bench/webhooks.py)
            # that opened and closed 7 connections a second, PostgreSQL forking a backend for
            # each. The same ceiling as 10 + 10 overflow, its connections kept.
            kwargs.update(pool_size=2 * pool_size, max_overflow=0, pool_pre_ping=False)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.pool_size = pool_size
        self._asyncpg: asyncpg.Pool | None = None
        self._asyncpg_lock = asyncio.Lock()

    async def asyncpg_pool(self) -> asyncpg.Pool:
        """PostgreSQL only: a pool of plain asyncpg connections, for the few statements that run
        on every webhook (bayar.storage.inbox) and the apply's (`quick`), where SQLAlchemy's
        cost per statement would be most of the request's. Opened on first use, closed with the
        engine."""
        if self._asyncpg is None:
            async with self._asyncpg_lock:
                if self._asyncpg is None:
                    dsn = make_url(self.url).set(drivername="postgresql")
                    self._asyncpg = await asyncpg.create_pool(
                        dsn.render_as_string(hide_password=False),
                        min_size=1,
                        max_size=self.pool_size,
                        reset=_session_untouched,
                        init=_json_as_sqlalchemy_reads_it,
                    )
        return self._asyncpg

    def session(self) -> AsyncSession:
        return self.sessions()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One transaction, committed when the block ends (rolled back if it raises)."""
        async with self.engine.connect() as conn, conn.begin():
            tx = Tx(self, conn)
            try:
                yield tx
                await tx.flush()
            finally:
                await tx.close()

    async def quick(self, work: Callable[[Tx], Awaitable[T]], as_read: AsRead | None = None) -> T:
        """`work`, committed when it returns. On PostgreSQL it runs first outside any
        transaction, on a plain asyncpg connection, for an apply's common path (a read, then one
        guarded write: `OrderWrites.flush`): BEGIN and COMMIT are two of its round trips, and
        SQLAlchemy's connection, transaction and greenlet cost more client CPU than the
        statements. Work that needs a transaction there (`NeedsTransaction`: nothing of it was
        written), or meets a connection the database dropped, runs again in `transaction()`.
        So `work` may run twice: it gathers its effects and leaves them to its caller.
        `as_read`: the order and its payment as read before (and their rows' versions), which
        the outside run's read takes instead of reading them again."""
        if not self.is_sqlite:
            try:
                pool = await self.asyncpg_pool()
                async with pool.acquire() as raw:
                    versions = RowVersions(known=as_read)
                    conn = DriverConnection(raw, self.engine.dialect, versions)
                    return await work(Tx(self, conn))
            except NeedsTransaction:
                pass
            except LOST:
                # Written or not, the work runs again and finds the order as it is now.
                await self.renew()
        async with self.transaction() as tx:
            return await work(tx)

    def session_on(self, conn: AsyncConnection) -> AsyncSession:
        """A session inside the transaction `conn` has begun; the owner of `conn` commits it."""
        return self.sessions(bind=conn)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def renew(self) -> None:
        """The database dropped its connections (it restarted): the idle ones of both pools go,
        and new ones are opened as needed."""
        await self.engine.dispose()
        if self._asyncpg is not None:
            await self._asyncpg.expire_connections()

    async def close(self) -> None:
        if self._asyncpg is not None:
            pool, self._asyncpg = self._asyncpg, None
            await pool.close()
        await self.engine.dispose()


class Tx:
    """A transaction: its connection, for the statements the core writes itself (the order's lock,
    an apply's writes), and an ORM session in the same transaction for the rest (a kiosk unit's
    dispense row, the stock given back, refund rows), opened the first time it is asked for.
    The apply needs no session on its common path, and a session's begin, flush and commit cost
    about as much client CPU as the apply's two statements (a scratch micro-bench: 0.89 ms
    against 0.70 ms per apply). On a quick run's plain asyncpg connection there is no
    session to open: asking for it raises `NeedsTransaction`."""

    def __init__(self, db: Database, conn: Connection, session: AsyncSession | None = None):
        self.db = db
        self.conn = conn
        self._session = session
        self._own_session = session is None

    @classmethod
    async def of(cls, db: Database, session: AsyncSession) -> Tx:
        """The transaction `session` is in (its owner commits it)."""
        return cls(db, await session.connection(), session)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if isinstance(self.conn, DriverConnection):
                raise NeedsTransaction
            self._session = self.db.session_on(self.conn)
        return self._session

    async def flush(self) -> None:
        """What the session holds, into the transaction (before it commits)."""
        if self._session is not None:
            await self._session.flush()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()


async def _json_as_sqlalchemy_reads_it(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """JSON values read as Python values, as through the engine (the apply reads a payment's
    instructions); a value to write is JSON text already, made by the column type's bind
    processor (`storage.prepared`) or by the caller."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=str, decoder=json.loads, schema="pg_catalog")


async def _session_untouched(_conn: asyncpg.Connection) -> None:
    """asyncpg's pool resets each connection it gets back with a query of its own (a round trip
    per webhook); the statements run on this pool set and listen to nothing, their locks go
    with their statement (`Database.quick`'s guarded write) or their transaction, and the pool
    still rolls back a transaction left open."""


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
