"""Recurring cycles (SNMP polls, camera checks) that must not pile up when one runs long."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.core.exceptions import ValidationError

from portal.ratelimit import Limit, take

_T = TypeVar("_T")
LOCK_SECONDS = 15 * 60  # a crashed worker's lock expires; no cycle legitimately runs this long
NOW_LIMIT = Limit(count=6, seconds=60)  # "poll now" / "check now" of one object


def unless_running(lock: str, cycle: Callable[[], _T]) -> _T | None:
    """Run ``cycle`` unless another worker is running it (then None): the next tick skips, not queues.

    The lock lives in the shared cache (Redis, or the file cache embedded), so every worker sees it."""
    if not cache.add(lock, "running", timeout=LOCK_SECONDS):
        return None
    try:
        return cycle()
    finally:
        cache.delete(lock)


def queue_now(*, what: str, object_id: int, task: str, created: Any) -> None:
    """Queue ``task(object_id)`` on the task cluster; a few a minute per object, so a button pressed over and
    over cannot queue a pile of network work. (At once, not on commit: it reads a row that exists already.)"""
    from django_q.tasks import async_task

    # Keyed by the object and its creation time: a reused id (a restored database) starts afresh.
    if take(bucket=what, key=f"{object_id}-{created.timestamp():.0f}", limit=NOW_LIMIT):
        raise ValidationError("This was queued several times in the last minute; the results arrive on the page.")
    async_task(task, object_id, group=what)
