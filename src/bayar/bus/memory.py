"""The in-process bus of a single `bayar up`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bayar.bus.base import Message
from bayar.bus.local import Subscribers


class MemoryBus:
    def __init__(self) -> None:
        self._subscribers = Subscribers()

    async def publish(self, topic: str, message: Message) -> None:
        self._subscribers.deliver(topic, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[AsyncIterator[Message]]:
        queue = self._subscribers.new_queue()
        self._subscribers.add(queue, topics)
        try:
            yield self._subscribers.messages(queue)
        finally:
            self._subscribers.remove(queue, topics)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()
