"""The product's built-in jobs (the silent-agent sweep, action expiry, SNMP polls, …): declared by each app
in its ``AppConfig.ready`` and synced into django-q2 schedules by ``manage.py sync_schedules``.

Words, once: a **built-in job** is declared here; a **scheduled run** is a technician's script or profile
on a timetable (``ActionSchedule``); a **django-q2 schedule** is the row the task cluster runs either from.
``sync_schedules`` creates missing django-q2 schedules and corrects the task of existing ones, keeping an
interval a user changed on the scheduler page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltInJob:
    name: str
    func: str
    minutes: int
    description: str


_JOBS: dict[str, BuiltInJob] = {}
_TASK_DESCRIPTIONS: dict[str, str] = {}


def register_jobs(*jobs: BuiltInJob) -> None:
    """Declare built-in jobs (each app, from its ``AppConfig.ready``)."""
    for job in jobs:
        _JOBS[job.name] = job
        _TASK_DESCRIPTIONS[job.func] = job.description


def describe_task(func: str, description: str) -> None:
    """What a task run by schedules of its own does (a connector's sync, a scheduled run), for the
    scheduler page."""
    _TASK_DESCRIPTIONS[func] = description


def built_in_jobs() -> tuple[BuiltInJob, ...]:
    return tuple(_JOBS.values())


def task_description(func: str) -> str:
    return _TASK_DESCRIPTIONS.get(func, "")
