from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Message = dict[str, Any]
# Delivered to every subscriber when messages may have been lost (the Redis connection dropped):
# read the state again from the database.
RESYNC: Message = {"type": "resync"}


class Bus(Protocol):
    async def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(self, *topics: str) -> AbstractAsyncContextManager[AsyncIterator[Message]]:
        """Messages published to any of `topics` from now on, until the context exits."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
