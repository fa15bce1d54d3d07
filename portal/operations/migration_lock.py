"""One process at a time applies migrations: every unit of a deployment may start with ``manage.py upgrade``.

PostgreSQL: a session advisory lock on the connection that migrates (released with it, even if the process
dies). SQLite: an exclusive ``flock`` on a file in the data directory, released when the process ends. The
second process waits, then finds nothing left to apply.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

ADVISORY_LOCK_ID = 0x464C5754_4D494752 & 0x7FFFFFFFFFFFFFFF  # "FLWTMIGR": a bigint no other lock uses
LOCK_FILE_NAME = "migrate.lock"


@contextmanager
def migration_lock() -> Iterator[float]:
    """Hold the lock for the block; yields how many seconds were spent waiting for another process."""
    started = time.monotonic()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_ID])
        try:
            yield time.monotonic() - started
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_ID])
        return
    path = settings.DATA_DIR / LOCK_FILE_NAME
    with path.open("a") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
