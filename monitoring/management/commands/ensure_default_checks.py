"""``manage.py ensure_default_checks``: give every company the default checks it lacks."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from monitoring.services import ensure_default_checks
from portal.access import rows_for_system
from portal.tenancy.models import Company


class Command(BaseCommand):
    help = ("Create the default checks (agent offline, CPU, memory, disk, patches, network, interfaces, cameras) "
            "for every company that lacks them; existing checks, changed or disabled, are left alone.")

    def handle(self, *args: Any, **options: Any) -> None:
        created = sum(ensure_default_checks(company=company) for company in rows_for_system(Company).all())
        self.stdout.write(f"Created {created} default check(s).")
