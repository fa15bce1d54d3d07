"""The scheduler page's reads and writes: every django-q2 schedule of the product (built-in jobs, connector
syncs, scheduled runs of scripts and profiles) with its last runs. They span companies, so only
administrators who see every company see or change them. A scheduled run of a script belongs to its
company's page: its on/off and timing are changed there, so the schedule stays the one it describes."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django_q.models import Schedule, Task

from portal.access import Actor, is_msp_admin, require_msp_admin
from portal.actions.scheduling import RUN_ACTION_SCHEDULE
from portal.audit.services import record
from portal.builtin_jobs import task_description

LOG_LENGTH = 20


@dataclass(frozen=True)
class Job:
    schedule: Schedule
    last_task: Task | None

    @property
    def enabled(self) -> bool:
        return self.schedule.repeats != 0

    @property
    def description(self) -> str:
        return task_description(self.schedule.func)

    @property
    def managed_elsewhere(self) -> bool:
        """Scheduled runs of scripts are switched and timed on their own page."""
        return self.schedule.func == RUN_ACTION_SCHEDULE

    @property
    def every(self) -> str:
        if self.schedule.schedule_type == Schedule.MINUTES:
            minutes = self.schedule.minutes or 0
            if minutes and minutes % 1440 == 0:
                return "daily" if minutes == 1440 else f"every {minutes // 1440} days"
            if minutes and minutes % 60 == 0:
                return "hourly" if minutes == 60 else f"every {minutes // 60} h"
            return f"every {minutes} min"
        return self.schedule.get_schedule_type_display().lower()


def scheduled_jobs_for(*, actor: Actor) -> list[Job]:
    if not is_msp_admin(actor):
        return []
    schedules = list(Schedule.objects.order_by("name"))
    last = _last_tasks(schedules)
    return [Job(schedule=schedule, last_task=last.get(schedule.name)) for schedule in schedules]


def _last_tasks(schedules: list[Schedule]) -> dict[str, Task]:
    """The newest stored run of each schedule (django-q2 files a scheduled task under the schedule's name)."""
    names = [schedule.name for schedule in schedules if schedule.name]
    newest: dict[str, Task] = {}
    for task in Task.objects.filter(group__in=names).order_by("-started").only(
            "id", "name", "group", "started", "stopped", "success", "result")[:2000]:
        newest.setdefault(task.group, task)
    return newest


def job_for(*, actor: Actor, schedule_id: int) -> Job | None:
    if not is_msp_admin(actor):
        return None
    schedule = Schedule.objects.filter(pk=schedule_id).first()
    if schedule is None:
        return None
    return Job(schedule=schedule, last_task=job_log(schedule=schedule).first())


def job_log(*, schedule: Schedule) -> QuerySet[Task]:
    """The last stored runs, newest first (successes are kept up to the cluster's save limit, failures all)."""
    return Task.objects.filter(group=schedule.name).order_by("-started")[:LOG_LENGTH]


def _require(actor: Actor, schedule: Schedule) -> None:
    require_msp_admin(actor, what="Scheduled jobs")
    if schedule.func == RUN_ACTION_SCHEDULE:
        raise ValidationError("A scheduled run of a script is switched and timed on its own page.")


@transaction.atomic
def set_job_enabled(*, actor: Actor, schedule: Schedule, enabled: bool) -> Schedule:
    """Switch a job on (repeats for ever) or off (django-q2 skips a schedule with no repeats left)."""
    _require(actor, schedule)
    before = schedule.repeats
    schedule.repeats = -1 if enabled else 0
    schedule.save(update_fields=["repeats"])
    record(actor=actor, action="schedule.enabled" if enabled else "schedule.disabled", target=schedule,
           company_id=None, before={"repeats": before}, after={"repeats": schedule.repeats})
    return schedule


@transaction.atomic
def set_job_interval(*, actor: Actor, schedule: Schedule, minutes: int) -> Schedule:
    _require(actor, schedule)
    if not 1 <= minutes <= 7 * 24 * 60:
        raise ValidationError({"minutes": "Between 1 minute and 7 days (10080 minutes)."})
    before = {"schedule_type": schedule.schedule_type, "minutes": schedule.minutes}
    schedule.schedule_type, schedule.minutes = Schedule.MINUTES, minutes
    schedule.save(update_fields=["schedule_type", "minutes"])
    record(actor=actor, action="schedule.interval_changed", target=schedule, company_id=None, before=before,
           after={"schedule_type": schedule.schedule_type, "minutes": minutes})
    return schedule


def run_job_now(*, actor: Actor, schedule: Schedule) -> str:
    """Queue the job once now, filed under the schedule so its log shows the run; returns the task id."""
    import ast

    from django_q.tasks import async_task

    require_msp_admin(actor, what="Scheduled jobs")
    args = ast.literal_eval(schedule.args) if schedule.args else ()
    args = args if isinstance(args, tuple) else (args,)
    record(actor=actor, action="schedule.run_now", target=schedule, company_id=None)
    return async_task(schedule.func, *args, group=schedule.name)
