"""The Redis bus, for several `bayar serve` processes behind one fleet."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from bayar.bus.base import Message

PREFIX = "bayar:"


class RedisBus:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=None, health_check_interval=30
        )

    async def publish(self, topic: str, message: Message) -> None:
        await self._redis.publish(PREFIX + topic, json.dumps(message, separators=(",", ":")))

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[AsyncIterator[Message]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(*(PREFIX + t for t in topics))

        async def messages() -> AsyncIterator[Message]:
            async for raw in pubsub.listen():
                if raw.get("type") == "message":
                    yield json.loads(raw["data"])

        try:
            yield messages()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()
