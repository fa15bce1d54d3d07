"""Work that must not run twice at once across processes and hosts (recurring cycles, the patch-window job)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

_T = TypeVar("_T")
LOCK_SECONDS = 15 * 60  # a crashed worker's lock expires; no cycle legitimately runs this long


def unless_running(lock: str, cycle: Callable[[], _T]) -> _T | None:
    """Run ``cycle`` unless another worker is running it (then None): the next tick skips, not queues.

    The lock lives in the shared cache (Redis, or the file cache embedded), so every worker sees it."""
    if not cache.add(lock, "running", timeout=LOCK_SECONDS):
        return None
    try:
        return cycle()
    finally:
        cache.delete(lock)
