from __future__ import annotations

from bayar.bus.base import Bus
from bayar.bus.memory import MemoryBus
from bayar.bus.redis import PREFIX, RedisBus


def make_bus(redis_url: str | None, *, prefix: str = PREFIX) -> Bus:
    """The Redis bus when REDIS_URL is set (its channels under `prefix`, BAYAR_REDIS_PREFIX),
    else the in-process one."""
    return RedisBus(redis_url, prefix=prefix) if redis_url else MemoryBus()
