"""Network work a technician asks for now ("Poll now", "Check now"), queued for the task cluster."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from portal.ratelimit import Limit, take

NOW_LIMIT = Limit(count=6, seconds=60)  # "poll now" / "check now" of one object


def queue_now(*, what: str, object_id: int, task: str, created: Any) -> None:
    """Queue ``task(object_id)`` on the task cluster; a few a minute per object, so a button pressed over and
    over cannot queue a pile of network work. (At once, not on commit: it reads a row that exists already.)"""
    from django_q.tasks import async_task

    # Keyed by the object and its creation time: a reused id (a restored database) starts afresh.
    if take(bucket=what, key=f"{object_id}-{created.timestamp():.0f}", limit=NOW_LIMIT):
        raise ValidationError("This was queued several times in the last minute; the results arrive on the page.")
    async_task(task, object_id, group=what)
