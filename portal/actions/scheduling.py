"""Scheduled runs of a script or profile, each backed by one django-q2 schedule that calls
``portal.actions.tasks.run_action_schedule`` (so the scheduler page and the cluster see them)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from portal.access import Actor, Role, ensure_visible, require_role, system_actor
from portal.actions.models import ActionSchedule, ScheduleKind
from portal.actions.requests import BulkResult, apply_profile, queue_bulk
from portal.actions.specs import script_spec
from portal.dynamic_groups.selectors import group_condition
from portal.inventory.models import Device
from portal.policies.models import Policy
from portal.policies.selectors import policies_by_device
from portal.policies.services import require_policy_writer
from portal.writes import delete_row, save_changes, save_new

SCHEDULE_FIELDS = ("name", "site", "group", "device", "dynamic_group", "os_type", "script", "profile", "parameters",
                   "kind", "run_at", "every", "enabled")
RUN_ACTION_SCHEDULE = "portal.actions.tasks.run_action_schedule"


def _q_arguments(schedule: ActionSchedule) -> dict[str, Any]:
    kinds = {
        ScheduleKind.ONCE: {"schedule_type": Schedule.ONCE, "repeats": 1, "minutes": None},
        ScheduleKind.MINUTES: {"schedule_type": Schedule.MINUTES, "minutes": schedule.every, "repeats": -1},
        ScheduleKind.HOURS: {"schedule_type": Schedule.MINUTES, "minutes": (schedule.every or 1) * 60, "repeats": -1},
        ScheduleKind.DAILY: {"schedule_type": Schedule.DAILY, "repeats": -1, "minutes": None},
        ScheduleKind.WEEKLY: {"schedule_type": Schedule.WEEKLY, "repeats": -1, "minutes": None},
    }
    arguments = kinds[ScheduleKind(schedule.kind)]
    arguments["next_run"] = schedule.run_at or timezone.now()
    return arguments


def _sync_q_schedule(schedule: ActionSchedule) -> None:
    """Create, update or remove the django-q2 schedule behind ``schedule`` (disabled means removed)."""
    existing = Schedule.objects.filter(pk=schedule.q_schedule_id).first() if schedule.q_schedule_id else None
    if not schedule.enabled:
        if existing is not None:
            existing.delete()
        ActionSchedule.objects.filter(pk=schedule.pk).update(q_schedule_id=None)
        return
    fields = {"name": f"actions: {schedule.name} (#{schedule.pk})"[:100], "func": RUN_ACTION_SCHEDULE,
              "args": repr((schedule.pk,)), **_q_arguments(schedule)}
    if existing is None:
        existing = Schedule.objects.create(**fields)
    else:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
    if schedule.q_schedule_id != existing.pk:
        ActionSchedule.objects.filter(pk=schedule.pk).update(q_schedule_id=existing.pk)
        schedule.q_schedule_id = existing.pk


def _require_schedule_writer(actor: Actor, schedule: ActionSchedule) -> None:
    """A company's schedules are its operators'; a policy's, whoever may change the policy."""
    if schedule.policy_id is not None:
        require_policy_writer(actor, schedule.policy.company_id)
        return
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=schedule.company_id)


@transaction.atomic
def create_schedule(*, actor: Actor, name: str, company: Any = None, policy: Policy | None = None,
                    **fields: Any) -> ActionSchedule:
    """A schedule of a company (on its devices, a site, group, device or dynamic group of it), or of a policy
    (on every device the policy reaches when it runs)."""
    unknown = set(fields) - set(SCHEDULE_FIELDS)
    if unknown:
        raise ValueError(f"Unknown fields: {', '.join(sorted(unknown))}")
    if policy is not None:
        company = policy.company
    elif company is None:
        raise ValidationError({"company": "Choose the company (or a policy) the schedule runs for."})
    schedule = ActionSchedule(company=company, policy=policy, name=name, created_by_id=actor.user_id, **fields)
    _require_schedule_writer(actor, schedule)
    schedule = save_new(actor=actor, instance=schedule)
    _sync_q_schedule(schedule)
    return schedule


@transaction.atomic
def update_schedule(*, actor: Actor, actionschedule: ActionSchedule, **changes: Any) -> ActionSchedule:
    _require_schedule_writer(actor, actionschedule)
    schedule = save_changes(actor=actor, instance=actionschedule, changes=changes, editable=SCHEDULE_FIELDS)
    _sync_q_schedule(schedule)
    return schedule


@transaction.atomic
def delete_schedule(*, actor: Actor, actionschedule: ActionSchedule) -> None:
    _require_schedule_writer(actor, actionschedule)
    if actionschedule.q_schedule_id:
        Schedule.objects.filter(pk=actionschedule.q_schedule_id).delete()
    delete_row(actor=actor, instance=actionschedule)


def target_devices(schedule: ActionSchedule) -> Any:
    if schedule.policy_id is not None:  # every device the policy reaches now, in any of its companies
        reached = [device_id for device_id, applied in policies_by_device().items()
                   if any(one.policy_id == schedule.policy_id for one in applied)]
        return Device.objects.filter(pk__in=reached).order_by("id")
    devices = Device.objects.filter(company_id=schedule.company_id)
    for placement in ("site", "group", "device"):
        target_id = getattr(schedule, f"{placement}_id")
        if target_id is not None:
            devices = devices.filter(**({"pk": target_id} if placement == "device" else {f"{placement}_id": target_id}))
    if schedule.dynamic_group is not None:
        devices = devices.filter(group_condition(schedule.dynamic_group))
    return devices.order_by("id")


def run_schedule(*, schedule_id: int) -> BulkResult | None:
    """Queue the schedule's script or profile on its devices now (called by django-q2, or 'run now')."""
    schedule = ActionSchedule.objects.select_related("script", "profile").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    actor = system_actor(f"schedule {schedule.name}"[:150])
    devices = target_devices(schedule)
    os_type = schedule.os_type or None
    if schedule.script is not None:
        spec = script_spec(actor=actor, script=schedule.script, parameters=schedule.parameters)
        result = queue_bulk(actor=actor, devices=devices, spec=spec, os_type=os_type, schedule=schedule)
    else:
        result = apply_profile(actor=actor, profile=schedule.profile, devices=devices, os_type=os_type,
                               schedule=schedule)
    ActionSchedule.objects.filter(pk=schedule.pk).update(last_run_at=timezone.now())
    return result
