"""With Redis, each process's channel layer holds a bounded pool of connections that commands wait for:
a storm of handshakes joining their groups at once queues on it instead of failing."""

from __future__ import annotations

import asyncio
import os

import redis.asyncio

from realtime.layers import PooledRedisChannelLayer

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _layer(max_connections: int) -> PooledRedisChannelLayer:
    return PooledRedisChannelLayer(hosts=[{"address": REDIS_URL, "socket_timeout": None,
                                           "max_connections": max_connections, "timeout": 10}],
                                   prefix="fleetwatch-pool-test")


def test_the_pool_waits_for_a_connection_instead_of_failing():
    pool = _layer(3).create_pool(0)
    assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
    assert pool.max_connections == 3 and pool.timeout == 10


def test_many_concurrent_group_joins_share_a_few_connections():
    if not os.environ.get("REDIS_URL"):
        # Embedded mode runs without Redis; the pool's own behaviour is checked above, this part with Redis.
        assert _layer(3).create_pool(0).connection_kwargs.get("socket_timeout") is None
        return
    layer = _layer(3)

    async def storm() -> int:
        await asyncio.gather(*(layer.group_add("pool-test", f"specific.test!{n}") for n in range(300)))
        members = await layer.connection(0).zcard(layer._group_key("pool-test"))
        pool = layer.connection(0).connection_pool
        held = len(pool._available_connections) + len(pool._in_use_connections)
        await layer.flush()
        assert held <= 3
        return members

    assert asyncio.run(storm()) == 300
