"""Which kiosks are connected, per machine: in-process, or in Redis when REDIS_URL is set, so every
`bayar serve` process (and the admin) sees a machine connected to any of them."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Protocol

from bayar.bus.redis import PREFIX, connect

TTL_SECONDS = 90  # a connection not refreshed (PING) for this long counts as gone


class Presence(Protocol):
    async def connected(self, machine_id: str, connection_id: str) -> None: ...

    async def disconnected(self, machine_id: str, connection_id: str) -> None: ...

    async def online(self, machine_id: str) -> bool: ...

    async def close(self) -> None: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._seen: defaultdict[str, dict[str, float]] = defaultdict(dict)

    async def connected(self, machine_id: str, connection_id: str) -> None:
        self._seen[machine_id][connection_id] = time.monotonic()

    async def disconnected(self, machine_id: str, connection_id: str) -> None:
        self._seen[machine_id].pop(connection_id, None)

    async def online(self, machine_id: str) -> bool:
        now = time.monotonic()
        return any(now - seen < TTL_SECONDS for seen in self._seen.get(machine_id, {}).values())

    async def close(self) -> None:
        self._seen.clear()


class RedisPresence:
    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        self._redis = connect(url, client_name="bayar-presence")
        self._prefix = prefix  # the install's namespace (BAYAR_REDIS_PREFIX), as the bus's

    def _key(self, machine_id: str) -> str:
        return f"{self._prefix}kiosk:{machine_id}:connections"

    async def connected(self, machine_id: str, connection_id: str) -> None:
        key = self._key(machine_id)
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {connection_id: now})
            pipe.zremrangebyscore(key, 0, now - TTL_SECONDS)
            pipe.expire(key, TTL_SECONDS)
            await pipe.execute()

    async def disconnected(self, machine_id: str, connection_id: str) -> None:
        await self._redis.zrem(self._key(machine_id), connection_id)

    async def online(self, machine_id: str) -> bool:
        count = await self._redis.zcount(self._key(machine_id), time.time() - TTL_SECONDS, "+inf")
        return int(count) > 0

    async def close(self) -> None:
        await self._redis.aclose()


def make_presence(redis_url: str | None, *, prefix: str = PREFIX) -> Presence:
    return RedisPresence(redis_url, prefix=prefix) if redis_url else MemoryPresence()
