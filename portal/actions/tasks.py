"""django-q2 entry points for actions; each only calls a service."""

from __future__ import annotations

from portal.actions.delivery import expire_overdue_actions
from portal.actions.scheduling import run_schedule
from portal.builtin_jobs import BuiltInJob


def run_action_schedule(schedule_id: int) -> str:
    result = run_schedule(schedule_id=schedule_id)
    if result is None:
        return "schedule disabled or deleted; nothing queued"
    return f"queued {result.queued} action(s), skipped {len(result.skipped)} device(s)"


def expire_overdue_actions_task() -> int:
    return expire_overdue_actions()


BUILT_IN_JOBS = (
    BuiltInJob(name="actions: expire overdue actions", func="portal.actions.tasks.expire_overdue_actions_task",
               minutes=1, description="Actions no agent picked up before their expiry become expired."),
)
