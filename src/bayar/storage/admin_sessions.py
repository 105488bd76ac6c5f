"""The admin's logins, kept so they can be ended on the server (only each id's digest)."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from bayar.storage.db import Database
from bayar.storage.models import AdminSession


async def open_session(
    db: Database, digest: str, password_tag: str, now: datetime, lifetime: timedelta
) -> None:
    """A new login (by its id's digest); sessions that are over are cleared away at the same time."""
    async with db.session() as session, session.begin():
        await session.execute(
            delete(AdminSession).where(
                or_(AdminSession.expires_at <= now, AdminSession.password_tag != password_tag)
            )
        )
        session.add(
            AdminSession(
                id_sha256=digest,
                password_tag=password_tag,
                created_at=now,
                expires_at=now + lifetime,
            )
        )


async def session_alive(db: Database, digest: str, password_tag: str, now: datetime) -> bool:
    """The login exists, has not run out, and was opened under today's password."""
    async with db.session() as session:
        found = await session.get(AdminSession, digest)
    return (
        found is not None
        and found.expires_at > now
        and hmac.compare_digest(found.password_tag, password_tag)
    )


async def end_session(db: Database, digest: str) -> None:
    async with db.session() as session, session.begin():
        await session.execute(delete(AdminSession).where(AdminSession.id_sha256 == digest))
