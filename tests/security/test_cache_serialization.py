"""The shared cache stores and reads JSON only: a pickle planted in Redis or in the cache directory is
never unpickled (before, the first read of the key ran the planted code in the server)."""

from __future__ import annotations

import os
import pickle
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches

from portal.cache import FleetRedisCache, JsonFileCache


class Planted:
    """Unpickling this creates a file: proof that a planted pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _redis_cache() -> FleetRedisCache:
    location = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    return FleetRedisCache(location, {"OPTIONS": settings.CACHES["default"].get("OPTIONS")
                                      if settings.REDIS_URL else {"serializer": "portal.cache.JsonSerializer"},
                                      "KEY_PREFIX": "fleetwatch-test-pickle"})


def test_the_configured_cache_serializes_json():
    backend = settings.CACHES["default"]
    if settings.REDIS_URL:
        assert backend["OPTIONS"]["serializer"] == "portal.cache.JsonSerializer"
    else:
        assert backend["BACKEND"] == "portal.cache.JsonFileCache"


def test_a_pickle_planted_in_redis_is_not_run(tmp_path):
    cache = _redis_cache()
    marker = tmp_path / "ran"
    client = cache._cache.get_client(write=True)
    key = cache.make_and_validate_key("fleetwatch:watching:device:1")
    client.set(key, pickle.dumps(Planted(marker)))
    try:
        assert cache.get("fleetwatch:watching:device:1") is None
        assert not marker.exists()
        cache.set("plain", {"a": [1, "b"]}, 30)
        assert cache.get("plain") == {"a": [1, "b"]}
        assert client.get(cache.make_and_validate_key("plain")) == b'{"a":[1,"b"]}'
        assert cache.add("counter", 1, 30) and cache.incr("counter", 4) == 5
    finally:
        cache.delete_many(["fleetwatch:watching:device:1", "plain", "counter"])


def test_a_pickle_planted_in_the_cache_directory_is_not_run(tmp_path):
    cache = JsonFileCache(str(tmp_path / "cache"), {})
    marker = tmp_path / "ran"
    path = Path(cache._key_to_file("fleetwatch:watching:device:1"))
    path.write_bytes(b"null\n" + zlib.compress(pickle.dumps(Planted(marker))))
    assert cache.get("fleetwatch:watching:device:1") is None
    assert not marker.exists()
    # A file of Django's own (pickling) file cache next to it is never read.
    django_style = path.with_suffix(".djcache")
    django_style.write_bytes(pickle.dumps(None) + zlib.compress(pickle.dumps(Planted(marker))))
    assert cache.get("fleetwatch:watching:device:1") is None and not marker.exists()


def test_the_file_cache_round_trips_json_and_expiry(tmp_path):
    cache = JsonFileCache(str(tmp_path / "cache"), {})
    cache.set("lock", "running", 30)
    assert cache.get("lock") == "running"
    assert not cache.add("lock", "again", 30)
    assert cache.touch("lock", 300) and cache.get("lock") == "running"
    cache.set("gone", 1, -1)
    assert cache.get("gone", "missing") == "missing"
    cache.set_many({"a": 1, "b": [True, None]}, 30)
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": [True, None]}
    with pytest.raises(TypeError):
        cache.set("object", object(), 30)


def test_the_default_cache_works_for_what_fleetwatch_stores():
    cache = caches["default"]
    cache.set("fleetwatch-test:mark", 1, 30)
    assert cache.get_many(["fleetwatch-test:mark"]) == {"fleetwatch-test:mark": 1}
    assert cache.add("fleetwatch-test:lock", "running", 30)
    cache.delete_many(["fleetwatch-test:mark", "fleetwatch-test:lock"])


def test_the_redis_cache_keeps_one_client_shared_by_threads():
    """Django builds a redis-py client per call (each with its event dispatcher and listeners) and pools per
    thread and request; ours keeps one client per process and configuration, serving concurrent threads."""
    from concurrent.futures import ThreadPoolExecutor

    cache = _redis_cache()
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=False)
    assert _redis_cache()._cache is cache._cache  # another thread's or request's backend shares it too

    def count(number: int) -> int:
        cache.add(f"shared-{number % 4}", 0, 30)
        return cache.incr(f"shared-{number % 4}")
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(count, range(200)))
        assert sorted(results) == sorted(n for _ in range(4) for n in range(1, 51))  # atomic, none lost
    finally:
        cache.delete_many([f"shared-{n}" for n in range(4)])
