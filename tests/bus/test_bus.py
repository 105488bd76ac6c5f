"""The bus on both backends: delivery by topic, isolation, and one Redis connection per process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bayar.bus.base import RESYNC, Bus, Message
from bayar.bus.memory import MemoryBus
from bayar.bus.redis import MAX_CONNECTIONS, PREFIX, RedisBus

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    made: Bus
    if request.param == "memory":
        made = MemoryBus()
    else:
        made = RedisBus(request.getfixturevalue("redis_server_url"))
    yield made
    await made.close()


async def _next(messages: AsyncIterator[Message], within: float = 2.0) -> Message:
    return await asyncio.wait_for(anext(messages), within)


def _topic() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_a_subscriber_gets_what_is_published_on_its_topic_only(bus: Bus) -> None:
    mine, other = _topic(), _topic()
    async with bus.subscribe(mine) as messages:
        await bus.publish(other, {"n": 0})
        await bus.publish(mine, {"n": 1})
        await bus.publish(mine, {"n": 2})
        assert await _next(messages) == {"n": 1}
        assert await _next(messages) == {"n": 2}
        with pytest.raises(TimeoutError):
            await _next(messages, within=0.3)


async def test_every_subscriber_of_a_topic_gets_each_message(bus: Bus) -> None:
    topic = _topic()
    async with contextlib.AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(bus.subscribe(topic)) for _ in range(20)]
        await bus.publish(topic, {"order_id": "BYR-1"})
        got = await asyncio.gather(*(_next(s) for s in streams))
    assert got == [{"order_id": "BYR-1"}] * 20


async def test_leaving_one_subscription_keeps_the_others(bus: Bus) -> None:
    topic = _topic()
    async with bus.subscribe(topic) as staying:
        async with bus.subscribe(topic):
            pass
        await bus.publish(topic, {"n": 1})
        assert await _next(staying) == {"n": 1}


@pytest.mark.redis
async def test_a_message_crosses_processes_through_redis(redis_server_url: str) -> None:
    publisher, subscriber = RedisBus(redis_server_url), RedisBus(redis_server_url)
    topic = _topic()
    try:
        async with subscriber.subscribe(topic) as messages:
            await publisher.publish(topic, {"status": "paid"})
            assert await _next(messages) == {"status": "paid"}
    finally:
        await publisher.close()
        await subscriber.close()


@pytest.mark.redis
async def test_a_thousand_subscribers_share_one_redis_connection(redis_server_url: str) -> None:
    bus = RedisBus(redis_server_url)
    admin = aioredis.Redis.from_url(redis_server_url)
    topics = [_topic() for _ in range(1000)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            streams = [await stack.enter_async_context(bus.subscribe(t)) for t in topics]
            await bus.publish(topics[500], {"n": 500})
            assert await _next(streams[500]) == {"n": 500}
            clients = await admin.client_list(_type="pubsub")
            ours = [c for c in clients if int(c.get("sub", 0)) >= 1000]
            assert len(ours) == 1, clients
            counts = dict(await admin.pubsub_numsub(PREFIX + topics[0], PREFIX + topics[999]))
            assert set(counts.values()) == {1}
        # Leaving unsubscribes at Redis too.
        await asyncio.sleep(0.1)
        counts = dict(await admin.pubsub_numsub(PREFIX + topics[0]))
        assert set(counts.values()) == {0}
    finally:
        await bus.close()
        await admin.aclose()


@pytest.mark.redis
async def test_subscriptions_come_back_after_the_redis_connection_drops(
    redis_server_url: str,
) -> None:
    name = f"bayar-test-{uuid.uuid4().hex[:12]}"
    bus = RedisBus(redis_server_url, client_name=name)
    admin = aioredis.Redis.from_url(redis_server_url)
    topic = _topic()
    try:
        async with bus.subscribe(topic) as messages:
            ours = [c for c in await admin.client_list(_type="pubsub") if c["name"] == name]
            assert len(ours) == 1
            assert await admin.client_kill_filter(_id=ours[0]["id"]) == 1
            # Redis forgot the subscription with the connection; the bus subscribes again.
            deadline = asyncio.get_running_loop().time() + 10
            while (await admin.pubsub_numsub(PREFIX + topic))[0][1] != 1:
                assert asyncio.get_running_loop().time() < deadline, "never subscribed again"
                await asyncio.sleep(0.05)
            # Whatever was published meanwhile is lost: subscribers are told to read again.
            assert await _next(messages, within=5) == RESYNC
            await bus.publish(topic, {"after": "reconnect"})
            assert await _next(messages, within=5) == {"after": "reconnect"}
    finally:
        await bus.close()
        await admin.aclose()


@pytest.mark.redis
async def test_a_burst_larger_than_the_pool_waits_for_connections_instead_of_failing(
    redis_server_url: str,
) -> None:
    """Every kiosk of a fleet reconnecting at once: far more commands at a time than the
    process has Redis connections."""
    bus = RedisBus(redis_server_url)
    topic = _topic()
    try:
        async with bus.subscribe(topic) as messages:
            await asyncio.gather(
                *(bus.publish(topic, {"n": n}) for n in range(10 * MAX_CONNECTIONS))
            )
            got = [await _next(messages) for _ in range(10 * MAX_CONNECTIONS)]
    finally:
        await bus.close()
    assert sorted(m["n"] for m in got) == list(range(10 * MAX_CONNECTIONS))
