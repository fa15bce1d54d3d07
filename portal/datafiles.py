"""The data directory holds the database (sessions, action output), the keys and the cache: only the
server's own user may read it. The directory is 0700 and the SQLite files 0600, whatever the umask."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def protect_directory(path: Path) -> None:
    """Create ``path`` if needed and make it 0700 (a warning, not a failure, when it is not ours)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError as error:
        logger.warning("could not make %s private (0700): %s", path, error)


def protect_sqlite_files(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created``: the SQLite database and its WAL and shared-memory files are 0600."""
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    for suffix in SQLITE_COMPANIONS:
        path = Path(name + suffix)
        if path.exists():
            try:
                os.chmod(path, 0o600)
            except OSError as error:
                logger.warning("could not make %s private (0600): %s", path, error)
