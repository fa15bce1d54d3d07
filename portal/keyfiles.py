"""Key material that lives in the data directory, generated on first run and never written in code."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create_key_file(*, path: Path, generate: Callable[[], str]) -> str:
    """Return the key stored at ``path``; create it (mode 0600) with ``generate()`` when missing.

    Creation uses O_EXCL so two processes starting at once (daphne and a worker) agree on one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as key_file:
        value = generate()
        key_file.write(value + "\n")
    return value
