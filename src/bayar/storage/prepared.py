"""The apply's statements on PostgreSQL, compiled once and sent as the driver's own SQL.

SQLAlchemy spends more CPU per execution of a cached statement than asyncpg spends sending it:
it computes the statement's cache key (a walk of the whole tree; the apply's combined write has
some 30 parameters) and builds the parameters anew each time. A micro-bench of one apply's write
in its transaction (not committed) gave 0.43 ms of client CPU that way against 0.36 ms through
`exec_driver_sql`. That still runs inside SQLAlchemy's transaction and connection: the same
BEGIN, error translation and lost-connection handling as any other statement. The values go
through each column type's own bind processor, so a status that is not one, or a naive
datetime, is refused as before. SQLite runs the statement as it is.

The same compiled statement also runs on a plain asyncpg connection (`DriverConnection`): the
apply's quick run (`Database.quick`), where SQLAlchemy's connection, transaction and greenlet
cost more client CPU than the statements do. There it runs outside any transaction: a read, then
one guarded write (`OrderWrites.flush`) that goes through only if the rows read are unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import CursorResult, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement

from bayar.storage.order_facts import AsRead

_REQUIRED: Any = object()


@dataclass(frozen=True, slots=True)
class _Bind:
    name: str
    process: Callable[[Any], Any] | None
    default: Any  # a literal's own value, or _REQUIRED


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    binds: tuple[_Bind, ...]

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for bind in self.binds:
            value = params.get(bind.name, bind.default)
            if value is _REQUIRED:
                raise KeyError(f"no value for {bind.name}")
            out.append(value if bind.process is None else bind.process(value))
        return tuple(out)


@functools.cache
def _compiled(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    names = compiled.positiontup
    if names is None or "POSTCOMPILE" in str(compiled):
        raise ValueError("only a statement with plain positional parameters can be prepared")
    binds = []
    for name in names:
        bind = compiled.binds[name]
        default = _REQUIRED if bind.required else bind.value
        binds.append(_Bind(name, bind.type.bind_processor(dialect), default))
    return _Compiled(str(compiled), tuple(binds))


class NeedsTransaction(Exception):
    """Work on a connection outside any transaction (`DriverConnection.unlocked`) needs one: it
    asked for the ORM session, or to write other than by a guarded write, or the rows it read
    have changed since. Nothing it did is written."""


@dataclass(slots=True)
class RowVersions:
    """The order's and its payment's rows (their `xmin`, PostgreSQL's version of a row) as work
    outside a transaction read them; its guarded write goes through only if both are unchanged.
    `known`: the rows as read before the work began, which its read takes instead of reading."""

    order: int | None = None
    payment: int | None = None
    known: AsRead | None = None


@dataclass(frozen=True, slots=True)
class DriverConnection:
    """A plain asyncpg connection, and the dialect its statements are compiled for. `unlocked`
    None: inside a transaction its owner began. Else outside any: each statement commits on its
    own, none may write but a guarded write, and the apply's read notes there what it saw."""

    raw: asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
    dialect: Dialect
    unlocked: RowVersions | None = None


# Where the prepared statements go: SQLAlchemy's connection, or a plain asyncpg one.
Connection = AsyncConnection | DriverConnection


async def execute(
    conn: Connection, statement: Executable, params: Mapping[str, Any]
) -> Sequence[Any]:
    """`statement` with `params`, in `conn`'s transaction: the rows it returns (none for a
    write without RETURNING)."""
    if isinstance(conn, AsyncConnection) and conn.dialect.name != "postgresql":
        return _rows(await conn.execute(statement, dict(params)))
    assert isinstance(statement, ClauseElement)
    unlocked = isinstance(conn, DriverConnection) and conn.unlocked is not None
    if unlocked and isinstance(statement, UpdateBase):
        raise NeedsTransaction  # a plain write would commit alone
    compiled = _compiled(statement, conn.dialect)
    arguments = compiled.arguments(params)
    if isinstance(conn, DriverConnection):
        return await conn.raw.fetch(compiled.sql, *arguments)
    return _rows(await conn.exec_driver_sql(compiled.sql, arguments))


def _rows(result: CursorResult[Any]) -> Sequence[Any]:
    return result.all() if result.returns_rows else []
