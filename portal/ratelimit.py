"""Fixed-window request counters, used on the agent paths, where one token must not flood the server.

``take``/``used_up`` count in the shared cache (Redis, or the file cache embedded), so every server process
counts against the same limit: refused enrollments per address. ``ProcessWindows`` counts in one process's
memory, for what every agent does all the time (the socket's connects, the HTTP fallback's heartbeats and
inventories): during a reconnect storm a shared-cache write per handshake was most of a handshake's cost
(the file cache lists its whole directory on every write)."""

from __future__ import annotations

import threading
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


class ProcessWindows:
    """``take`` for one limit, counted in this process only (thread-safe).

    With several server processes a key may use the limit once in each of them, which still bounds a token
    reused in a loop. Memory stays bounded: counters of past windows are dropped once ``max_keys`` is reached.
    """

    def __init__(self, *, limit: Limit, max_keys: int = 200_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._counts: dict[str | int, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str | int) -> float:
        """Count one more use of ``key``; 0 when it is within the limit, else the seconds until the window ends."""
        now = time.time()
        window = int(now // self.limit.seconds)
        with self._lock:
            counted_window, used = self._counts.get(key, (window, 0))
            used = used + 1 if counted_window == window else 1
            if key not in self._counts and len(self._counts) >= self.max_keys:
                self._forget_past_windows(window)
            self._counts[key] = (window, used)
        if used <= self.limit.count:
            return 0.0
        return (window + 1) * self.limit.seconds - now

    def _forget_past_windows(self, window: int) -> None:
        self._counts = {key: counted for key, counted in self._counts.items() if counted[0] == window}
        if len(self._counts) >= self.max_keys:  # one window holds more keys than the bound: start afresh
            self._counts.clear()
