"""How long Python's garbage collections stop a web process: to /metrics, and to the log when one is long.

A collection holds the interpreter lock for its whole run, so every socket of the process (heartbeat acks,
handshakes) waits on it. With thousands of agents a process holds millions of objects, and the collections
of the older generations are what a late ack is made of; this makes them visible in production.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from portal.operations.metrics import GC_PAUSE_SECONDS

logger = logging.getLogger(__name__)
LONG_PAUSE_SECONDS = 0.1
_started_at: list[float] = []


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started_at[:] = [time.perf_counter()]
        return
    if not _started_at:
        return
    took = time.perf_counter() - _started_at.pop()
    generation = info.get("generation", 0)
    GC_PAUSE_SECONDS.labels(generation=str(generation)).observe(took)
    if took >= LONG_PAUSE_SECONDS:
        logger.warning("a garbage collection of generation %s stopped this process for %.0f ms (%s objects "
                       "collected)", generation, took * 1000, info.get("collected", 0))


def watch_garbage_collection() -> None:
    """Time every collection of this process (once per process)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)
