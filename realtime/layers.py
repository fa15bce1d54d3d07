"""The channel layers: Channels' in-memory layer with its expiry sweep rate-limited (embedded), and
channels-redis with a pool that waits for a connection (with Redis)."""

from __future__ import annotations

import time

import redis.asyncio
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

SWEEP_EVERY_SECONDS = 1.0


class ProcessLocalChannelLayer(InMemoryChannelLayer):
    """Channels' InMemoryChannelLayer, except that its sweep for expired messages and memberships runs at
    most once a second. Upstream it runs on every send and receive and walks every channel and group
    membership, so with 5,000 agent sockets each published event cost a scan of 10,000 entries and
    heartbeat acks waited seconds behind the backlog."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY_SECONDS:
            return
        self._last_sweep = now
        super()._clean_expired()


class PooledRedisChannelLayer(RedisChannelLayer):
    """channels-redis with a pool that waits for a free connection instead of failing.

    Upstream's pool opens a connection per concurrent command and raises "Too many connections" past its
    maximum. In a reconnect storm of 10,000 agents thousands of handshakes add their socket to its group at
    once: 14,000 handshakes a run failed that way (each logged with its traceback), and every failure came
    back as another handshake. Here a process holds at most ``max_connections`` and a command waits up to
    ``timeout`` seconds for one; Redis answers each in well under a millisecond, so the wait is short."""

    def create_pool(self, index: int) -> redis.asyncio.ConnectionPool:
        host = dict(self.hosts[index])
        address = host.pop("address")
        return redis.asyncio.BlockingConnectionPool.from_url(address, **host)
