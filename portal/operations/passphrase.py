"""Where a backup's passphrase comes from: a file (for timers), the environment, or a prompt."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from django.core.management.base import CommandError

MINIMUM_LENGTH = 12
ENVIRONMENT_VARIABLE = "FLEETWATCH_BACKUP_PASSPHRASE"


def read_passphrase(*, passphrase_file: str | None, confirm: bool) -> str:
    if passphrase_file:
        try:
            passphrase = Path(passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise CommandError(f"Cannot read the passphrase file: {error.strerror}.") from error
    elif os.environ.get(ENVIRONMENT_VARIABLE):
        passphrase = os.environ[ENVIRONMENT_VARIABLE]
    else:
        try:
            passphrase = getpass.getpass("Backup passphrase: ")
            if confirm and getpass.getpass("The same passphrase again: ") != passphrase:
                raise CommandError("The two passphrases differ.")
        except EOFError as error:
            raise CommandError(f"No passphrase: give --passphrase-file or set {ENVIRONMENT_VARIABLE}.") from error
    if len(passphrase) < MINIMUM_LENGTH:
        raise CommandError(f"The passphrase must be at least {MINIMUM_LENGTH} characters long.")
    return passphrase
