"""Rate limits of the API: create-transaction per client address (BAYAR_CREATE_RATE_LIMIT).

A token bucket per address, in this process: `limit` requests a minute, refilled evenly, a burst
of `limit` at most. Over it: 429 with Retry-After, in the Problem shape. 0 turns it off. Several
`bayar serve` processes each keep their own buckets (the nginx in deploy/ limits in front too).
The client address is `request.client.host`, which the app resolves through BAYAR_TRUSTED_PROXIES.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from fastapi import HTTPException, Request

from bayar.api.deps import Context

MAX_TRACKED = 10_000  # addresses remembered; the least recently seen are forgotten first


class RateLimiter:
    def __init__(self, per_minute: int, now: Callable[[], datetime]) -> None:
        self.per_minute = per_minute
        self.now = now
        self._buckets: OrderedDict[str, tuple[float, datetime]] = OrderedDict()

    def hit(self, key: str) -> int | None:
        """Take one request of `key`'s allowance: None if allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        now = self.now()
        rate = self.per_minute / 60.0  # tokens a second
        tokens, seen = self._buckets.pop(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + max(0.0, (now - seen).total_seconds()) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            allowed = True
        else:
            self._buckets[key] = (tokens, now)
            allowed = False
        while len(self._buckets) > MAX_TRACKED:
            self._buckets.popitem(last=False)
        if allowed:
            return None
        return max(1, math.ceil((1.0 - tokens) / rate))


def _limiter(request: Request, ctx: Context) -> RateLimiter:
    """The app's limiter of create-transaction, made on first use (one per app)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "create_rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter(ctx.settings.bayar_create_rate_limit, ctx.clock)
        state.create_rate_limiter = limiter
    return limiter


async def limit_create(request: Request, ctx: Context) -> None:
    """Dependency of create-transaction: 429 once the client's address is over its limit."""
    address = request.client.host if request.client else "unknown"
    wait = _limiter(request, ctx).hit(address)
    if wait is not None:
        raise HTTPException(
            429,
            f"too many orders from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
