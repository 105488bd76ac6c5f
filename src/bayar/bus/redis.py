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
from collections import defaultdict
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from bayar.bus.base import RESYNC, Message

PREFIX = "bayar:"
QUEUE_LIMIT = 1000
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
    def __init__(self, url: str, *, client_name: str = "bayar-bus") -> None:
        self._redis = connect(url, client_name=client_name)
        self._queues: defaultdict[str, set[asyncio.Queue[Message]]] = defaultdict(set)
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._subscribed: set[str] = set()  # topics subscribed at Redis

    async def publish(self, topic: str, message: Message) -> None:
        await self._redis.publish(PREFIX + topic, json.dumps(message, separators=(",", ":")))

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[AsyncIterator[Message]]:
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_LIMIT)
        await self._join(queue, topics)

        async def messages() -> AsyncIterator[Message]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            await self._leave(queue, topics)

    async def _join(self, queue: asyncio.Queue[Message], topics: tuple[str, ...]) -> None:
        for topic in topics:
            self._queues[topic].add(queue)
        try:
            async with self._lock:
                new = [t for t in topics if t not in self._subscribed]
                if not new:
                    return
                pubsub = self._ensure_reader()
                loop = asyncio.get_running_loop()
                waits = [
                    self._confirmations.setdefault(PREFIX + t, loop.create_future()) for t in new
                ]
                try:
                    await pubsub.subscribe(*(PREFIX + t for t in new))
                    # Subscribed means Redis said so: what is published after this is ours.
                    await asyncio.wait_for(asyncio.gather(*waits), SUBSCRIBE_TIMEOUT)
                finally:
                    for t in new:
                        self._confirmations.pop(PREFIX + t, None)
                self._subscribed.update(new)
        except BaseException:
            for topic in topics:
                self._drop(queue, topic)
            raise

    async def _leave(self, queue: asyncio.Queue[Message], topics: tuple[str, ...]) -> None:
        # Forgotten locally at once (even if cancelled below, nothing is queued for it any more);
        # Redis is told under the lock, for the topics nobody here joined again meanwhile.
        for topic in topics:
            self._drop(queue, topic)
        async with self._lock:
            gone = [t for t in topics if t in self._subscribed and not self._queues.get(t)]
            if gone and self._pubsub is not None:
                self._subscribed.difference_update(gone)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(*(PREFIX + t for t in gone))

    def _drop(self, queue: asyncio.Queue[Message], topic: str) -> None:
        queues = self._queues.get(topic)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[topic]

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
                self._fan_out_all(RESYNC)
            if raw is not None:
                self._dispatch(raw)

    def _fan_out_all(self, message: Message) -> None:
        for queue in {q for queues in self._queues.values() for q in queues}:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

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
        for queue in list(self._queues.get(name.removeprefix(PREFIX), ())):
            # A subscriber that stopped reading loses messages rather than stalling the others.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

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
        self._queues.clear()
        await self._redis.aclose()
