"""The agent sockets' database calls run on a pool of threads of their own.

Channels runs every synchronous database call of a process on one thread. With thousands of agents
connecting at once, each handshake's few short queries then queued behind every other (and behind page
views), and on PostgreSQL each of those waits on a network round trip: a storm of 5,000 connects took
minutes and most handshakes timed out. The pool lets several run at once (PostgreSQL takes them in
parallel; SQLite reads in parallel under WAL and takes writers one at a time). Each thread keeps one
connection, so a process holds at most FLEETWATCH_AGENT_DB_THREADS of them for its agents.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings

_EXECUTOR = ThreadPoolExecutor(max_workers=settings.FLEETWATCH_AGENT_DB_THREADS,
                               thread_name_prefix="fleetwatch-agent-db")


def agent_db(func: Callable[..., Any]) -> DatabaseSyncToAsync:
    """Like ``database_sync_to_async``, on the agent sockets' own threads (stale connections closed
    before and after each call)."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_EXECUTOR)
