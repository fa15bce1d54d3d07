"""``manage.py backup``: the database and the key files in one archive sealed with a passphrase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from portal.operations.backup import write_backup
from portal.operations.databases import DatabaseToolMissing
from portal.operations.passphrase import ENVIRONMENT_VARIABLE, read_passphrase


class Command(BaseCommand):
    help = ("Back up the fleet while it runs: the database (SQLite's online backup, or pg_dump on PostgreSQL) and "
            "the secret, secrets and action-signing keys, in one file encrypted with a passphrase (scrypt, "
            f"AES-256-GCM). The passphrase comes from --passphrase-file, {ENVIRONMENT_VARIABLE}, or a prompt. "
            "Keep the passphrase apart from the backups: without it a backup cannot be read.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="file to write (default: fleetwatch-<date>-<time>.fwbackup "
                                                   "in the current directory); written 0600, replaced whole")
        parser.add_argument("--passphrase-file", help="read the passphrase from this file's first line")

    def handle(self, *args: Any, **options: Any) -> None:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        output = Path(options["output"] or f"fleetwatch-{stamp}.fwbackup").resolve()
        passphrase = read_passphrase(passphrase_file=options["passphrase_file"], confirm=True)
        try:
            written = write_backup(output=output, passphrase=passphrase)
        except DatabaseToolMissing as error:
            raise CommandError(str(error)) from error
        megabytes = written.size / 1_048_576
        self.stdout.write(f"Backup written to {written.path}\n  {megabytes:.1f} MB in {written.seconds:.1f} s, "
                          f"{written.database} database, {len(written.members) - 1} key files\n"
                          f"  SHA-256 {written.sha256}")
