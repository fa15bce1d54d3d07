"""The shared cache holds JSON, never pickles.

Django's Redis and file caches pickle what they store, so anything that can write one cache key (someone
on the Redis network, a file dropped into the cache directory) could run code in the server, which
holds the action-signing key. Fleetwatch only caches small JSON values (locks, watch marks, counters,
task-queue statistics), so both backends here store JSON and read nothing else: a value that is not
JSON is treated as a miss and logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.files import locks
from django.utils.functional import cached_property

logger = logging.getLogger(__name__)


class JsonSerializer:
    """For ``RedisCache`` (``OPTIONS["serializer"]``): integers stay raw so ``incr`` stays atomic."""

    def dumps(self, obj: Any) -> Any:
        if type(obj) is int:
            return obj
        return json.dumps(obj, separators=(",", ":")).encode()

    def loads(self, data: bytes) -> Any:
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            logger.warning("a cache entry in Redis is not JSON; treated as missing")
            return None


class SharedRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, keeping one redis-py client per connection pool.

    Upstream builds a new ``redis.Redis`` for every cache call; since redis-py 6 each construction sets up an
    event dispatcher with half a dozen listeners, so an enrollment's rate-limit check built three of them
    and left them for the garbage collector. A client is safe to share between threads (it takes a
    connection from its pool per command)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: str | None = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


_SHARED_CLIENTS: dict[str, SharedRedisCacheClient] = {}
_SHARED_CLIENTS_LOCK = threading.Lock()


class FleetRedisCache(RedisCache):
    """Django's Redis cache with one client (and its pools) per process and configuration.

    Django makes a cache backend per thread and per request context, each with pools of its own, so every
    enrollment request also opened a fresh Redis connection. Here they all share the client above. Set
    ``OPTIONS["serializer"]`` to ``JsonSerializer``."""

    @cached_property
    def _cache(self) -> SharedRedisCacheClient:
        identity = repr((self._servers, sorted(self._options.items())))
        with _SHARED_CLIENTS_LOCK:
            client = _SHARED_CLIENTS.get(identity)
            if client is None:
                client = _SHARED_CLIENTS[identity] = SharedRedisCacheClient(self._servers, **self._options)
        return client


class JsonFileCache(FileBasedCache):
    """The file cache of embedded mode, storing ``<expiry as JSON>\\n<zlib(JSON value)>``.

    Its files carry their own suffix, so files of Django's pickling file cache are never read."""

    cache_suffix = ".fwcache"

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        fname = self._key_to_file(key, version)
        try:
            with open(fname, "rb") as f:
                if not self._is_expired(f):
                    return self._value(f)
        except FileNotFoundError:
            pass
        return default

    def _value(self, f: Any) -> Any:
        try:
            return json.loads(zlib.decompress(f.read()))
        except (ValueError, zlib.error):
            logger.warning("cache file %s is not JSON; treated as missing", f.name)
            return None

    def _write_content(self, file: Any, timeout: Any, value: Any) -> None:
        expiry = self.get_backend_timeout(timeout)
        file.write(json.dumps(expiry).encode() + b"\n")
        file.write(zlib.compress(json.dumps(value, separators=(",", ":")).encode()))

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            with open(self._key_to_file(key, version), "r+b") as f:
                try:
                    locks.lock(f, locks.LOCK_EX)
                    if self._is_expired(f):
                        return False
                    previous = self._value(f)
                    f.seek(0)
                    f.truncate()
                    self._write_content(f, timeout, previous)
                    return True
                finally:
                    locks.unlock(f)
        except FileNotFoundError:
            return False

    def _is_expired(self, f: Any) -> bool:
        try:
            expiry = json.loads(f.readline())
        except ValueError:
            expiry = 0  # empty or damaged: expired
        if expiry is not None and (not isinstance(expiry, int | float) or expiry < time.time()):
            f.close()
            self._delete(f.name)
            return True
        return False
