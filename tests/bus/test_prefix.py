"""Issue 12: BAYAR_REDIS_PREFIX namespaces an install's Redis channels and keys; by default it is
derived from the database, so two installs on one Redis never hear each other, while every
process of one install (however it spells its DATABASE_URL) shares one namespace."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from bayar.bus.redis import RedisBus
from bayar.config import Settings
from bayar.vending.presence import RedisPresence


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, bayar_var_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_the_default_prefix_names_the_database_not_its_spelling(tmp_path: Path) -> None:
    def prefix(url: str) -> str:
        return _settings(tmp_path, database_url=url, bayar_redis_prefix=None).redis_prefix()

    shop = prefix("postgresql://bayar:secret@db.internal:5432/shop")
    assert shop == prefix("postgresql+asyncpg://bayar:other@db.internal:5432/shop")
    assert shop != prefix("postgresql://bayar:secret@db.internal:5432/kiosks")
    assert shop != prefix("postgresql://bayar:secret@db2.internal:5432/shop")
    assert shop.startswith("bayar:")
    assert shop.endswith(":")
    assert "secret" not in shop
    assert "db.internal" not in shop
    # Two folders with a bayar up each: two SQLite files, two namespaces.
    assert prefix(f"sqlite:///{tmp_path / 'a.sqlite3'}") != prefix(
        f"sqlite:///{tmp_path / 'b.sqlite3'}"
    )
    explicit = _settings(tmp_path, database_url="sqlite:///x", bayar_redis_prefix="kiosk-7:")
    assert explicit.redis_prefix() == "kiosk-7:"


@pytest.mark.redis
async def test_two_installs_on_one_redis_never_hear_each_other(redis_server_url: str) -> None:
    first, second = f"test-{uuid.uuid4().hex[:8]}:", f"test-{uuid.uuid4().hex[:8]}:"
    mine, theirs, also_mine = (
        RedisBus(redis_server_url, prefix=first),
        RedisBus(redis_server_url, prefix=second),
        RedisBus(redis_server_url, prefix=first),
    )
    topic = "machine:demo"  # the same topic name in both installs
    try:
        async with theirs.subscribe(topic) as overheard, also_mine.subscribe(topic) as heard:
            await mine.publish(topic, {"type": "PAYMENT_SUCCESS"})
            assert await asyncio.wait_for(anext(heard), 2) == {"type": "PAYMENT_SUCCESS"}
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(overheard), 0.3)
    finally:
        for bus in (mine, theirs, also_mine):
            await bus.close()


@pytest.mark.redis
async def test_kiosk_presence_is_per_install(redis_server_url: str) -> None:
    first, second = f"test-{uuid.uuid4().hex[:8]}:", f"test-{uuid.uuid4().hex[:8]}:"
    mine = RedisPresence(redis_server_url, prefix=first)
    theirs = RedisPresence(redis_server_url, prefix=second)
    try:
        await mine.connected("demo", "socket-1")
        assert await mine.online("demo")
        assert not await theirs.online("demo")  # another install's machine "demo"
        await mine.disconnected("demo", "socket-1")
    finally:
        await mine.close()
        await theirs.close()
