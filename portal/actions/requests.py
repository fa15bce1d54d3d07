"""Requesting actions: one device, many devices (bulk), a profile roll-out, and cancelling.

Every request is a durable Action row written with its audit event in one transaction; the device's
agent socket is told after commit, and an offline agent gets it when it reconnects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from portal.access import Actor, Role, ensure_visible, require_role
from portal.actions.delivery import finish_action
from portal.actions.models import Action, ActionBatch, ActionSchedule, ActionStatus, DeploymentProfile
from portal.actions.specs import ActionSpec, profile_specs
from portal.audit.models import AuditEvent
from portal.audit.services import audit_event, record, snapshot_fields
from portal.bulk_insert import insert_new
from portal.dynamic_groups.models import DynamicGroup
from portal.dynamic_groups.selectors import group_condition
from portal.events.groups import agent_group
from portal.events.publish import batched_publishing, notify_agent, publish, publish_to_group
from portal.inventory.models import Device
from portal.inventory.selectors import devices_for
from portal.tenancy.models import Company, Group, Site

AUDITED_FIELDS = ("action_type", "title", "status", "device", "device_label", "script", "script_version", "batch",
                  "timeout_seconds", "expires_at")


@dataclass
class BulkResult:
    batch: ActionBatch | None
    queued: int = 0
    skipped: list[tuple[Device, str]] = field(default_factory=list)
    # A run on one picked device queues one action and no batch.
    action: Action | None = None


@dataclass(frozen=True)
class Targets:
    """Where to run: picked devices, or every device of one group, site, company or dynamic group, optionally
    of one OS."""

    device_ids: tuple[int, ...] = ()
    group: Group | None = None
    site: Site | None = None
    company: Company | None = None
    dynamic_group: DynamicGroup | None = None
    os_type: str | None = None

    def devices(self, actor: Actor) -> QuerySet[Device]:
        """The target's devices the actor may see, in id order; exactly one kind of target must be given. A
        dynamic group is evaluated now."""
        chosen = [name for name in ("group", "site", "company", "dynamic_group") if getattr(self, name) is not None]
        if bool(self.device_ids) + len(chosen) != 1:
            raise ValidationError({"target": "Give devices, or one group, site, company or dynamic group."})
        devices = devices_for(actor=actor).order_by("id")
        if self.device_ids:
            return devices.filter(pk__in=self.device_ids)
        if self.dynamic_group is not None:
            return devices.filter(group_condition(self.dynamic_group))
        return devices.filter(**{chosen[0]: getattr(self, chosen[0])})


def run_on_targets(*, actor: Actor, targets: Targets, spec: ActionSpec | None = None,
                   profile: DeploymentProfile | None = None) -> BulkResult:
    """The one way to run something on targets (the run page and GraphQL both): one picked device gets one
    action, anything else a batch; a profile always a batch. The OS filter applies to every kind of target,
    one device included (a device of another OS is not queued)."""
    if (spec is None) == (profile is None):
        raise ValidationError("Run an action or apply a profile, not both.")
    devices = targets.devices(actor)
    os_type = targets.os_type or None
    if spec is not None and len(targets.device_ids) == 1:
        device = devices.first()
        if device is None:
            raise Device.DoesNotExist("No such device.")
        if os_type and device.os_type != os_type:
            return BulkResult(batch=None)
        return BulkResult(batch=None, queued=1, action=queue_action(actor=actor, device=device, spec=spec))
    if profile is not None:
        return apply_profile(actor=actor, profile=profile, devices=devices, os_type=os_type)
    return queue_bulk(actor=actor, devices=devices, spec=spec, os_type=os_type)


def default_expiry() -> datetime:
    return timezone.now() + timedelta(hours=settings.FLEETWATCH_ACTION_EXPIRY_HOURS)


def _new_action(*, actor: Actor, device: Device, spec: ActionSpec, batch: ActionBatch | None = None,
                after: Action | None = None, continue_on_error: bool = False,
                schedule: ActionSchedule | None = None, expires_at: datetime | None = None) -> Action:
    return Action(
        company_id=device.company_id, device=device, device_label=device.hostname[:255],
        action_type=spec.action_type, title=spec.title[:255],
        payload=spec.payload, script=spec.script, script_version=spec.script.version if spec.script else None,
        batch=batch, after=after, continue_on_error=continue_on_error, schedule=schedule,
        status=ActionStatus.WAITING if after is not None else ActionStatus.QUEUED,
        requested_by_id=actor.user_id, requested_by_label=actor.label[:150], timeout_seconds=spec.timeout_seconds,
        expires_at=expires_at or default_expiry())


def what_ran(action: Action, *, with_content: bool) -> dict[str, Any]:
    """What the action tells the agent to do, for the audit log: everything but a script's content, which is
    kept as its SHA-256 (and itself unless ``with_content`` is False: a library version keeps it, and a bulk
    run's batch event keeps it once for all its actions)."""
    payload = dict(action.payload)
    content = payload.pop("content", None)
    if content is not None:
        payload["content_sha256"] = hashlib.sha256(content.encode()).hexdigest()
        if with_content:
            payload["content"] = content
    return payload


def requested_event(actor: Actor, action: Action, *, in_batch: bool = False) -> AuditEvent:
    """The audit record of a request: who, which device, and what will run (content or library version,
    arguments, parameters, environment, run-as), kept after the device and the script are deleted."""
    after = snapshot_fields(action, AUDITED_FIELDS)
    library_version = action.script_id is not None
    after["runs"] = what_ran(action, with_content=not library_version and not in_batch)
    if library_version:
        after["script_name"] = action.script.name if action.script else ""
    return audit_event(actor=actor, action="action.requested", target=action, company_id=action.company_id,
                       after=after)


def batch_requested_events(actor: Actor, batch: ActionBatch, actions: list[Action]) -> list[AuditEvent]:
    """A record of a bulk run for each company it reaches, with the content once (its actions' records carry
    its SHA-256), so whoever may see the company's audit log sees what ran there."""
    by_company: dict[int, list[Action]] = {}
    for action in actions:
        by_company.setdefault(action.company_id, []).append(action)
    return [audit_event(actor=actor, action="actionbatch.requested", target=batch, company_id=company_id, after={
        "title": batch.title, "actions": len(group), "devices": len({a.device_id for a in group}),
        "runs": [what_ran(a, with_content=a.script_id is None) for a in _distinct_payloads(group)],
        "script": group[0].script_id, "script_version": group[0].script_version})
        for company_id, group in by_company.items()]


def _distinct_payloads(actions: list[Action]) -> list[Action]:
    seen: dict[str, Action] = {}
    for action in actions:
        seen.setdefault(json.dumps(action.payload, sort_keys=True), action)
    return list(seen.values())


@transaction.atomic
def queue_action(*, actor: Actor, device: Device, spec: ActionSpec, expires_at: datetime | None = None) -> Action:
    """Queue one action on one device (operators). Raises ValidationError when the device cannot run it."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=device.company_id)
    spec.check(device)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    action = _new_action(actor=actor, device=device, spec=spec, expires_at=expires_at)
    action.save()
    requested_event(actor, action).save()
    publish("action.updated", company_id=action.company_id, id=action.pk, device_id=device.pk)
    notify_agent(device.pk)
    return action


def _eligible(actor: Actor, devices: Iterable[Device], specs: list[ActionSpec],
              os_type: str | None) -> tuple[list[Device], list[tuple[Device, str]]]:
    chosen, skipped = [], []
    for device in devices:
        if not actor.may_see_company(device.company_id):
            continue  # callers pass scoped querysets; this is the last guard, and it is silent
        if os_type and device.os_type != os_type:
            continue
        try:
            for spec in specs:
                spec.check(device)
        except ValidationError as refused:
            skipped.append((device, " ".join(refused.messages)))
            continue
        chosen.append(device)
    return chosen, skipped


@transaction.atomic
def queue_bulk(*, actor: Actor, devices: Iterable[Device], spec: ActionSpec, os_type: str | None = None,
               schedule: ActionSchedule | None = None) -> BulkResult:
    """Queue one action on many devices; devices that cannot run it are skipped with the reason."""
    require_role(actor, Role.OPERATOR)
    chosen, skipped = _eligible(actor, devices, [spec], os_type)
    if not chosen:
        return BulkResult(batch=None, skipped=skipped)
    batch = ActionBatch.objects.create(title=f"{spec.title} on {len(chosen)} device(s)"[:255],
                                       requested_by_id=actor.user_id, requested_by_label=actor.label[:150])
    actions = insert_new(
        [_new_action(actor=actor, device=device, spec=spec, batch=batch, schedule=schedule) for device in chosen])
    _announce(actor, actions)
    return BulkResult(batch=batch, queued=len(actions), skipped=skipped)


@transaction.atomic
def queue_each(*, actor: Actor, planned: list[tuple[Device, ActionSpec]], title: str,
               expires_at: dict[int, datetime] | None = None) -> list[Action]:
    """Queue one action per device, each with its own spec (a patch window: every device its own approved
    updates), as one batch; ``expires_at`` by device id (default: the usual expiry)."""
    require_role(actor, Role.OPERATOR)
    chosen = [(device, spec) for device, spec in planned if actor.may_see_company(device.company_id)]
    if not chosen:
        return []
    for device, spec in chosen:
        spec.check(device)
    batch = ActionBatch.objects.create(title=f"{title} on {len(chosen)} device(s)"[:255],
                                       requested_by_id=actor.user_id, requested_by_label=actor.label[:150])
    expiries = expires_at or {}
    actions = insert_new([_new_action(actor=actor, device=device, spec=spec, batch=batch,
                                      expires_at=expiries.get(device.pk)) for device, spec in chosen])
    _announce(actor, actions)
    return actions


def _announce(actor: Actor, actions: list[Action]) -> None:
    insert_new([*batch_requested_events(actor, actions[0].batch, actions),
                                    *(requested_event(actor, action, in_batch=True) for action in actions)])
    with batched_publishing():  # a thousand devices told in one go, not a thousand
        for company_id in {action.company_id for action in actions}:
            publish("actionbatch.updated", company_id=company_id, id=actions[0].batch_id)
        for device_id in {action.device_id for action in actions if action.status == ActionStatus.QUEUED}:
            notify_agent(device_id)


@transaction.atomic
def apply_profile(*, actor: Actor, profile: DeploymentProfile, devices: Iterable[Device],
                  os_type: str | None = None, schedule: ActionSchedule | None = None) -> BulkResult:
    """Queue a profile's tasks on each device, in order: each task waits for the one before it, and a
    failed task cancels the rest unless it was marked continue_on_error."""
    require_role(actor, Role.OPERATOR)
    steps = profile_specs(actor=actor, profile=profile)
    chosen, skipped = _eligible(actor, devices, [spec for _, spec in steps], os_type or profile.target_os or None)
    if not chosen:
        return BulkResult(batch=None, skipped=skipped)
    batch = ActionBatch.objects.create(title=f"Profile {profile.name} on {len(chosen)} device(s)"[:255],
                                       requested_by_id=actor.user_id, requested_by_label=actor.label[:150])
    expires_at = default_expiry()
    previous: dict[int, Action] = {}
    created: list[Action] = []
    for task, spec in steps:  # one insert per task, so each row can point at the row before it
        rows = insert_new([
            _new_action(actor=actor, device=device, spec=spec, batch=batch, after=previous.get(device.pk),
                        continue_on_error=task.continue_on_error, schedule=schedule, expires_at=expires_at)
            for device in chosen])
        previous = {action.device_id: action for action in rows}
        created.extend(rows)
    _announce(actor, created)
    return BulkResult(batch=batch, queued=len(created), skipped=skipped)


@transaction.atomic
def cancel_action(*, actor: Actor, action: Action) -> Action:
    """Cancel a waiting or queued action at once; ask the agent to kill a sent or running one."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=action.company_id)
    action = Action.objects.select_for_update().get(pk=action.pk)
    if action.is_finished:
        raise ValidationError(f"This action already {action.get_status_display().lower()}.")
    record(actor=actor, action="action.cancelled", target=action, company_id=action.company_id,
           before={"status": action.status})
    if action.status in (ActionStatus.WAITING, ActionStatus.QUEUED):
        finish_action(action=action, status=ActionStatus.CANCELLED, error=f"Cancelled by {actor.label}.")
        return action
    action.cancel_requested_at = timezone.now()
    action.save(update_fields=["cancel_requested_at"])
    publish_to_group(agent_group(action.device_id), {"type": "agent.cancel", "action_id": action.pk})
    publish("action.updated", company_id=action.company_id, id=action.pk, device_id=action.device_id)
    return action
