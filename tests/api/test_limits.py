"""Rate limit of create-transaction per client address (issue 8, problem 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness import StartBayar

from bayar.api.limits import RateLimiter


async def test_create_transaction_is_rate_limited_per_address(start_bayar: StartBayar) -> None:
    async with start_bayar(bayar_create_rate_limit=3) as bayar:
        stock = await bayar.stock("cola")
        for _ in range(3):
            assert (await bayar.create(("cola", 1))).status_code == 201

        refused = await bayar.create(("cola", 1))

        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "20"
        assert set(refused.json()) == {"detail"}
        assert await bayar.count_orders() == 3
        assert await bayar.stock("cola") == stock - 3

        bayar.clock.advance(seconds=20)  # 3 a minute: one more every 20 s
        assert (await bayar.create(("cola", 1))).status_code == 201
        assert (await bayar.create(("cola", 1))).status_code == 429


def test_the_limit_is_per_address_and_zero_turns_it_off() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    limiter = RateLimiter(2, lambda: now)
    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [None, None, 30]
    assert limiter.hit("10.0.0.2") is None
    off = RateLimiter(0, lambda: now)
    assert all(off.hit("10.0.0.1") is None for _ in range(100))
    later = now + timedelta(minutes=5)
    limiter.now = lambda: later
    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [None, None, 30]
