"""The database half of a backup: SQLite's online backup API, or pg_dump/pg_restore on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.db import connection

SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"


class DatabaseToolMissing(Exception):
    """pg_dump or pg_restore is not installed (Debian: ``apt-get install postgresql-client``)."""


def vendor() -> str:
    return connection.vendor


def member_name() -> str:
    return SQLITE_MEMBER if vendor() == "sqlite" else POSTGRES_MEMBER


def dump(*, into: Path) -> None:
    """Write a consistent copy of the live database to ``into`` while the server keeps running."""
    if vendor() == "sqlite":
        source = sqlite3.connect(str(connection.settings_dict["NAME"]))
        target = sqlite3.connect(str(into))
        try:
            source.backup(target, pages=4096)  # in steps, so writers are not held up for the whole copy
        finally:
            target.close()
            source.close()
        return
    _run_postgres_tool("pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(into))


def is_empty() -> bool:
    """True when no migration has run here: a data directory or database a restore may fill."""
    with connection.cursor() as cursor:
        if "django_migrations" not in connection.introspection.table_names(cursor):
            return True
        cursor.execute("SELECT COUNT(*) FROM django_migrations")
        return cursor.fetchone()[0] == 0


def load(*, dump_file: Path) -> None:
    """Put a dump written by ``dump`` in place of the (empty) database."""
    if vendor() == "sqlite":
        name = Path(connection.settings_dict["NAME"])
        connection.close()
        for leftover in (name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")):
            leftover.unlink(missing_ok=True)
        source = sqlite3.connect(str(dump_file))
        target = sqlite3.connect(str(name))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        os.chmod(name, 0o600)
        return
    connection.close()
    _run_postgres_tool("pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                       str(dump_file))


def _run_postgres_tool(tool: str, *arguments: str) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise DatabaseToolMissing(f"{tool} is not installed; on Debian: apt-get install postgresql-client")
    settings = connection.settings_dict
    # The password goes through the environment, never the command line other users can read in ps.
    environment = {**os.environ, "PGPASSWORD": str(settings.get("PASSWORD") or "")}
    target = ["--host", str(settings.get("HOST") or "127.0.0.1"), "--port", str(settings.get("PORT") or 5432),
              "--dbname", str(settings["NAME"])]
    if settings.get("USER"):
        target += ["--username", str(settings["USER"])]
    finished = subprocess.run([executable, *target, *arguments], env=environment, capture_output=True, text=True,
                              check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"{tool} failed: {finished.stderr.strip()[-2000:]}")
