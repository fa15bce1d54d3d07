"""Reads of actions and the library. Actions and schedules are scoped to the actor's companies; the
library is shared by everyone signed in."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from portal.access import Actor, visible_to
from portal.actions.models import (
    Action,
    ActionBatch,
    ActionSchedule,
    ActionStatus,
    DeploymentProfile,
    ProfileTask,
    Script,
    ScriptVersion,
    SoftwareItem,
)


def actions_for(*, actor: Actor) -> QuerySet[Action]:
    return visible_to(Action.objects.select_related("device", "company", "script"), actor)


def batches_for(*, actor: Actor) -> QuerySet[ActionBatch]:
    """Batches with at least one action the actor may see."""
    return visible_to(ActionBatch.objects.all(), actor)


def batch_summary(*, actor: Actor, batch: ActionBatch) -> dict[str, int]:
    """Counts per status of the batch's actions the actor may see, plus total and finished."""
    counts = dict(actions_for(actor=actor).filter(batch=batch).order_by().values_list("status")
                  .annotate(n=Count("id")).values_list("status", "n"))
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in (ActionStatus.SUCCEEDED, ActionStatus.FAILED, ActionStatus.TIMED_OUT,
                                               ActionStatus.CANCELLED, ActionStatus.EXPIRED))
    return {**{s: counts.get(s, 0) for s in ActionStatus.values}, "total": total, "finished": finished,
            "percent": round(100 * finished / total) if total else 100}


def schedules_for(*, actor: Actor) -> QuerySet[ActionSchedule]:
    return visible_to(ActionSchedule.objects.select_related("company", "script", "profile"), actor)


def scripts_for(*, actor: Actor) -> QuerySet[Script]:
    return visible_to(Script.objects.all(), actor)


def script_versions_for(*, actor: Actor) -> QuerySet[ScriptVersion]:
    return visible_to(ScriptVersion.objects.all(), actor)


def software_items_for(*, actor: Actor) -> QuerySet[SoftwareItem]:
    return visible_to(SoftwareItem.objects.all(), actor)


def profiles_for(*, actor: Actor) -> QuerySet[DeploymentProfile]:
    return visible_to(DeploymentProfile.objects.annotate(task_count=Count("tasks")), actor)


def profile_tasks_for(*, actor: Actor) -> QuerySet[ProfileTask]:
    return visible_to(ProfileTask.objects.select_related("script", "software"), actor)

