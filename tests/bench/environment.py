"""Every benchmark's start: a throw-away data directory and SQLite file when embedded, or the
PostgreSQL database of ``DATABASE_URL`` created if missing, then Django set up."""

from __future__ import annotations

import os
import tempfile


def _ensure_postgres_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"] or None,
                         password=db["PASSWORD"] or None, dbname="postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["NAME"],)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{db["NAME"]}"')


def set_up_django() -> None:
    """Call before importing anything that needs Django; each script then migrates and seeds."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if not os.environ.get("DATABASE_URL"):
        data_dir = tempfile.mkdtemp(prefix="fleetwatch-bench-")
        os.environ["FLEETWATCH_DATA_DIR"] = data_dir
        # A file, not memory: the server and agents the benchmarks start are other processes.
        os.environ["DATABASE_URL"] = f"sqlite:///{data_dir}/bench.sqlite3"
    import django

    django.setup()
    _ensure_postgres_database()


def machine_speed() -> str:
    """How fast this machine runs Python today, to compare figures taken on different days: machines of
    one kind have differed twofold from one day to the next (the same code's roll-out and drain figures)."""
    import time

    started = time.perf_counter()
    total = 0
    for number in range(10_000_000):
        total += number
    return f"machine: a 10-million-step Python loop takes {time.perf_counter() - started:.2f} s"
