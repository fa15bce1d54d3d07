"""``manage.py upgrade``: apply migrations under a lock, then refresh the recurring jobs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from portal.operations.migration_lock import migration_lock


class Command(BaseCommand):
    help = ("Bring the database up to this version: apply pending migrations while holding a lock (so the web and "
            "worker services may all run this as they start; the second waits and finds nothing to do), then "
            "register the recurring jobs. Safe to run at any time.")

    def handle(self, *args: Any, **options: Any) -> None:
        with migration_lock() as waited:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if pending:
                call_command("migrate", interactive=False, verbosity=0)
            waited_note = f" after waiting {waited:.1f} s for another process" if waited >= 0.5 else ""
            self.stdout.write(f"Fleetwatch {settings.FLEETWATCH_VERSION}: "
                              f"{len(pending)} migration(s) applied{waited_note}.")
            call_command("sync_schedules", verbosity=0)
