"""``manage.py restore``: an empty data directory (and database) filled from a backup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.operations.archive import ArchiveError
from portal.operations.backup import RestoreRefused, restore_backup
from portal.operations.databases import DatabaseToolMissing
from portal.operations.passphrase import ENVIRONMENT_VARIABLE, read_passphrase


class Command(BaseCommand):
    help = ("Restore a backup written by 'manage.py backup' into an empty data directory (FLEETWATCH_DATA_DIR) "
            "and, with DATABASE_URL, an empty PostgreSQL database; then apply any newer migrations. Refuses to "
            f"overwrite a fleet. The passphrase comes from --passphrase-file, {ENVIRONMENT_VARIABLE}, or a prompt.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backup", help="the backup file")
        parser.add_argument("--passphrase-file", help="read the passphrase from this file's first line")
        parser.add_argument("--no-migrate", action="store_true", help="leave the database at the backup's migrations")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["backup"])
        if not source.is_file():
            raise CommandError(f"No backup at {source}.")
        passphrase = read_passphrase(passphrase_file=options["passphrase_file"], confirm=False)
        try:
            restored = restore_backup(source=source, passphrase=passphrase)
        except (ArchiveError, RestoreRefused, DatabaseToolMissing) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Restored the backup of {restored.created_at} (Fleetwatch {restored.version}, "
                          f"{restored.database}); keys written: {', '.join(restored.keys)}.")
        for name in restored.keys_in_environment:
            self.stdout.write(self.style.WARNING(
                f"{name} is set in the environment and wins over the restored key file: unset it, or set it to "
                "the backup's value, or the restored secrets cannot be read."))
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Migrations applied. Start the server; agents reconnect and keep trusting its "
                              "signed actions (the signing key was restored).")
