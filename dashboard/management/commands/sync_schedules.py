"""Create or update the django-q2 schedules of the built-in jobs the apps declare (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from portal.builtin_jobs import built_in_jobs


class Command(BaseCommand):
    help = "Sync the recurring jobs declared in code into django-q2 (safe to run on every start)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        created = updated = 0
        jobs = built_in_jobs()
        for spec in jobs:
            schedule = Schedule.objects.filter(name=spec.name).first()
            if schedule is None:
                Schedule.objects.create(name=spec.name, func=spec.func, schedule_type=Schedule.MINUTES,
                                        minutes=spec.minutes, repeats=-1)
                created += 1
            elif schedule.func != spec.func:
                schedule.func = spec.func
                schedule.save(update_fields=["func"])
                updated += 1
        self.stdout.write(f"Schedules: {created} created, {updated} updated, {len(jobs)} declared.")
