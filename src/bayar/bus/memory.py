"""The in-process bus of a single `bayar up`."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

from bayar.bus.base import Message

QUEUE_LIMIT = 1000


class MemoryBus:
    def __init__(self) -> None:
        self._queues: defaultdict[str, set[asyncio.Queue[Message]]] = defaultdict(set)

    async def publish(self, topic: str, message: Message) -> None:
        for queue in list(self._queues.get(topic, ())):
            # A subscriber that stopped reading loses messages rather than stalling publishers.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[AsyncIterator[Message]]:
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_LIMIT)
        for topic in topics:
            self._queues[topic].add(queue)

        async def messages() -> AsyncIterator[Message]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            for topic in topics:
                self._queues[topic].discard(queue)
                if not self._queues[topic]:
                    del self._queues[topic]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._queues.clear()
