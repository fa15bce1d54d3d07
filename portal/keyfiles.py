"""Key material that lives in the data directory, generated on first run and never written in code."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def read_or_create_key_file(*, path: Path, generate: Callable[[], str]) -> str:
    """Return the key stored at ``path``; create it (mode 0600) with ``generate()`` when missing.

    Several processes start at once (run_fleet's web processes, a worker): the key is written whole to a
    file of this process's own and then hard-linked into place, which fails when another process got there
    first — so every process reads one complete key, never a file another is still writing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = generate()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as key_file:
        key_file.write(value + "\n")
        key_file.flush()
        os.fsync(key_file.fileno())
    try:
        os.link(temporary, path)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()  # another process won; its key is complete
    finally:
        temporary.unlink(missing_ok=True)
    return value
