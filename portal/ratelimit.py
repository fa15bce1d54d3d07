"""Fixed-window request counters in the shared cache (Redis, or the file cache embedded), so every server
process counts against the same limit. Used on the agent paths, where one token must not flood the
server: connects per device, heartbeats and inventories over HTTP, refused enrollments per address."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Limit:
    """At most ``count`` in each window of ``seconds``."""

    count: int
    seconds: int


def _cache_key(bucket: str, key: str | int, window: int) -> str:
    return f"fleetwatch:rate:{bucket}:{key}:{window}"


def used_up(*, bucket: str, key: str | int, limit: Limit) -> float:
    """Without counting: 0 while the window has room for one more, else the seconds until it ends."""
    window = int(time.time() // limit.seconds)
    if (cache.get(_cache_key(bucket, key, window)) or 0) < limit.count:
        return 0.0
    return (window + 1) * limit.seconds - time.time()


def take(*, bucket: str, key: str | int, limit: Limit) -> float:
    """Count one more use; 0 when it is within the limit, else the seconds until the window ends."""
    window = int(time.time() // limit.seconds)
    cache_key = _cache_key(bucket, key, window)
    # add() starts the window's counter; incr() is atomic on Redis (close enough on the file cache).
    cache.add(cache_key, 0, timeout=limit.seconds + 1)
    try:
        used = cache.incr(cache_key)
    except ValueError:  # expired between the two calls: this is the new window's first use
        cache.add(cache_key, 1, timeout=limit.seconds + 1)
        used = 1
    if used <= limit.count:
        return 0.0
    return (window + 1) * limit.seconds - time.time()
