"""The subscribers of one process: a queue each, fanned out to by topic. The memory bus is this
alone; the Redis bus feeds it from its one subscription connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

from bayar.bus.base import Message

QUEUE_LIMIT = 1000
Queue = asyncio.Queue[Message]


class Subscribers:
    def __init__(self) -> None:
        self._queues: defaultdict[str, set[Queue]] = defaultdict(set)

    @staticmethod
    def new_queue() -> Queue:
        return asyncio.Queue(QUEUE_LIMIT)

    @staticmethod
    async def messages(queue: Queue) -> AsyncIterator[Message]:
        while True:
            yield await queue.get()

    def add(self, queue: Queue, topics: tuple[str, ...]) -> None:
        for topic in topics:
            self._queues[topic].add(queue)

    def remove(self, queue: Queue, topics: tuple[str, ...]) -> None:
        for topic in topics:
            queues = self._queues.get(topic)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._queues[topic]

    def has(self, topic: str) -> bool:
        return bool(self._queues.get(topic))

    def deliver(self, topic: str, message: Message) -> None:
        self._put(self._queues.get(topic, ()), message)

    def deliver_to_all(self, message: Message) -> None:
        self._put({q for queues in self._queues.values() for q in queues}, message)

    @staticmethod
    def _put(queues: set[Queue] | tuple[()], message: Message) -> None:
        for queue in list(queues):
            # A subscriber that stopped reading loses messages rather than stalling the others.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    def clear(self) -> None:
        self._queues.clear()
