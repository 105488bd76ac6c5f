from __future__ import annotations

from bayar.bus.base import Bus
from bayar.bus.memory import MemoryBus
from bayar.bus.redis import RedisBus


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else MemoryBus()
