"""How long Python's garbage collections stop a web process: to /metrics, and to the log when one is long.

A collection holds the interpreter lock for its whole run, so every socket of the process (heartbeat acks,
handshakes) waits on it. With thousands of agents a process holds millions of objects, and the collections
of the older generations are what a late ack is made of; this makes them visible in production.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

from portal.operations.metrics import GC_PAUSE_SECONDS

logger = logging.getLogger(__name__)
LONG_PAUSE_SECONDS = 0.1
# (wall clock, this thread's CPU clock) when the running collection started. A collection runs on the thread
# that triggered it, so the CPU clock's difference is the collection's own work; the rest of a long pause is
# the process waiting for a core (on a busy machine most of a "pause" can be that).
_started_at: list[tuple[float, float]] = []
_wall_clock = time.perf_counter
_cpu_clock = time.thread_time


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started_at[:] = [(_wall_clock(), _cpu_clock())]
        return
    if not _started_at:
        return
    wall_started, cpu_started = _started_at.pop()
    took = _wall_clock() - wall_started
    generation = info.get("generation", 0)
    GC_PAUSE_SECONDS.labels(generation=str(generation)).observe(took)
    if took >= LONG_PAUSE_SECONDS:
        on_core = min(took, _cpu_clock() - cpu_started)
        # The thread matters: a collection runs on whichever thread allocated past the threshold, and one run
        # by a thread of lower priority (the inventory writer's) holds the interpreter lock while it waits for a core.
        logger.warning("a garbage collection of generation %s stopped this process for %.0f ms, %.0f ms of it on a "
                       "core (%s objects collected; run by thread %s)", generation, took * 1000, on_core * 1000,
                       info.get("collected", 0), threading.current_thread().name)


def watch_garbage_collection() -> None:
    """Time every collection of this process (once per process)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)
