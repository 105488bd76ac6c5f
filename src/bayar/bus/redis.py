"""The Redis bus, for several `bayar serve` processes behind one fleet.

One process holds thousands of kiosk sockets, so it holds one Redis subscription connection,
not one per socket: a reader task takes every message off it and fans it out to the local
subscribers' queues. Publishing goes through the client's own connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from bayar.bus.base import RESYNC, Message
from bayar.bus.local import Queue, Subscribers

PREFIX = "bayar:"  # the namespace of a bus made without one (bayar's own use passes its own)
SUBSCRIBE_TIMEOUT = 5.0
log = logging.getLogger("bayar.bus")


MAX_CONNECTIONS = 50
POOL_WAIT = 10.0  # seconds a command waits for a free pooled connection


def connect(url: str, *, client_name: str) -> aioredis.Redis:
    """A Redis client for one process. Thousands of kiosk sockets share its few connections, so a
    burst (every kiosk reconnecting at once) waits for a free one rather than failing."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT,
        socket_connect_timeout=5,
        health_check_interval=30,
        client_name=client_name,  # shown by CLIENT LIST: which connections are bayar's
    )
    return aioredis.Redis.from_pool(pool)


class RedisBus:
    def __init__(self, url: str, *, client_name: str = "bayar-bus", prefix: str = PREFIX) -> None:
        self._redis = connect(url, client_name=client_name)
        self._prefix = prefix  # every channel's name starts with it (BAYAR_REDIS_PREFIX)
        self._subscribers = Subscribers()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._subscribed: set[str] = set()  # topics subscribed at Redis

    async def publish(self, topic: str, message: Message) -> None:
        await self._redis.publish(self._prefix + topic, json.dumps(message, separators=(",", ":")))

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[AsyncIterator[Message]]:
        queue = self._subscribers.new_queue()
        await self._join(queue, topics)
        try:
            yield self._subscribers.messages(queue)
        finally:
            await self._leave(queue, topics)

    async def _join(self, queue: Queue, topics: tuple[str, ...]) -> None:
        self._subscribers.add(queue, topics)
        try:
            async with self._lock:
                new = [t for t in topics if t not in self._subscribed]
                if not new:
                    return
                pubsub = self._ensure_reader()
                loop = asyncio.get_running_loop()
                waits = [loop.create_future() for _ in new]
                self._confirmations.update(zip((self._prefix + t for t in new), waits, strict=True))
                try:
                    await pubsub.subscribe(*(self._prefix + t for t in new))
                    # Subscribed means Redis said so: what is published after this is ours.
                    await asyncio.wait_for(asyncio.gather(*waits), SUBSCRIBE_TIMEOUT)
                finally:
                    for t in new:
                        self._confirmations.pop(self._prefix + t, None)
                self._subscribed.update(new)
        except BaseException:
            self._subscribers.remove(queue, topics)
            raise

    async def _leave(self, queue: Queue, topics: tuple[str, ...]) -> None:
        # Forgotten locally at once (even if cancelled below, nothing is queued for it any more);
        # Redis is told under the lock, for the topics nobody here joined again meanwhile.
        self._subscribers.remove(queue, topics)
        async with self._lock:
            gone = [t for t in topics if t in self._subscribed and not self._subscribers.has(t)]
            if gone and self._pubsub is not None:
                self._subscribed.difference_update(gone)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(*(self._prefix + t for t in gone))

    def _ensure_reader(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(self._pubsub), name="bayar-bus-reader")
        return self._pubsub

    async def _read(self, pubsub: PubSub) -> None:
        backoff = 0.1
        lost = False
        while True:
            if not pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            try:
                raw = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # redis-py reconnects, and subscribes again, on the next read.
                log.warning("redis bus: %s; reading again in %.1fs", error, backoff)
                lost = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if lost:
                lost = False
                # What was published while the connection was down is gone: subscribers read
                # the truth again from the database.
                self._subscribers.deliver_to_all(RESYNC)
            if raw is not None:
                self._dispatch(raw)

    def _dispatch(self, raw: dict[str, object]) -> None:
        channel = raw.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if raw.get("type") == "subscribe":
            confirmation = self._confirmations.pop(name, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)
            return
        if raw.get("type") != "message":
            return
        data = raw.get("data")
        try:
            message = json.loads(data if isinstance(data, (bytes, str)) else b"")
        except ValueError:
            log.warning("bus message that is not JSON on %s", name)
            return
        self._subscribers.deliver(name.removeprefix(self._prefix), message)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._subscribers.clear()
        await self._redis.aclose()
