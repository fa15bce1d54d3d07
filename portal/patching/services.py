"""Writes of patch management: a policy's patching and windows (whoever may change the policy), decisions on
updates for a company or one device (its operators), scans and installs now, and the monthly report.

Every write is audited; decisions re-evaluate the company at once, so its queue and compliance follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.access import Actor, Role, ensure_visible, require_role
from portal.actions.models import Action
from portal.actions.requests import BulkResult, queue_action, queue_bulk
from portal.actions.specs import scan_spec, updates_spec
from portal.audit.services import record
from portal.inventory.models import Device, PatchUpdate
from portal.patching.evaluation import State, evaluate
from portal.patching.models import ComplianceReportSchedule, Decision, PatchApproval, PatchPolicy, PatchWindow
from portal.patching.results import install_entries
from portal.patching.status import refresh_patch_status
from portal.policies.models import Policy
from portal.policies.services import require_policy_writer
from portal.tenancy.models import Company
from portal.writes import delete_row, save_changed_fields, save_new

PATCH_POLICY_FIELDS = ("enabled", "rules", "deny_list", "catch_up", "include_applications", "suppress_alerts",
                       "reboot_mode", "reboot_warning_minutes", "reboot_max_postpone_minutes", "reboot_message")
WINDOW_FIELDS = ("frequency", "weekdays", "week_of_month", "weekday", "starts_at", "duration_minutes")
MAX_DECISIONS = 1000


@transaction.atomic
def set_patching(*, actor: Actor, policy: Policy, **changes: Any) -> PatchPolicy:
    """Turn on or change a policy's patching (created with the default rules the first time)."""
    require_policy_writer(actor, policy.company_id)
    patching = PatchPolicy.objects.filter(policy=policy).first()
    if patching is None:
        unknown = set(changes) - set(PATCH_POLICY_FIELDS)
        if unknown:
            raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
        return save_new(actor=actor, instance=PatchPolicy(policy=policy, **changes))
    save_changed_fields(actor=actor, instance=patching, changes=changes, editable=PATCH_POLICY_FIELDS)
    return patching


@transaction.atomic
def add_patch_window(*, actor: Actor, policy: Policy, **fields: Any) -> PatchWindow:
    require_policy_writer(actor, policy.company_id)
    unknown = set(fields) - set(WINDOW_FIELDS)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    return save_new(actor=actor, instance=PatchWindow(policy=policy, **fields))


@transaction.atomic
def update_patch_window(*, actor: Actor, patchwindow: PatchWindow, **changes: Any) -> PatchWindow:
    require_policy_writer(actor, patchwindow.policy.company_id)
    save_changed_fields(actor=actor, instance=patchwindow, changes=changes, editable=WINDOW_FIELDS)
    return patchwindow


@transaction.atomic
def delete_patch_window(*, actor: Actor, patchwindow: PatchWindow) -> None:
    require_policy_writer(actor, patchwindow.policy.company_id)
    delete_row(actor=actor, instance=patchwindow)


@transaction.atomic
def decide_updates(*, actor: Actor, company: Company, updates: Iterable[PatchUpdate], decision: str,
                   device: Device | None = None, note: str = "") -> int:
    """Approve or deny updates for a company, or (``device``) for one of its devices only; a decision made
    before is replaced. Returns how many decisions changed."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=company.pk)
    if device is not None and device.company_id != company.pk:
        raise ValidationError({"device": "This device belongs to another company."})
    if decision not in Decision.values:
        raise ValidationError({"decision": f"Decide {' or '.join(Decision.values)}."})
    chosen = list(dict.fromkeys(updates))
    if not chosen or len(chosen) > MAX_DECISIONS:
        raise ValidationError({"updates": f"Choose 1 to {MAX_DECISIONS} updates."})
    existing = {row.update_id: row for row in PatchApproval.objects.filter(company=company, device=device,
                                                                           update__in=chosen)}
    changed = 0
    for update in chosen:
        row = existing.get(update.pk)
        if row is not None and row.decision == decision and row.note == note:
            continue
        values = {"decision": decision, "note": note[:300], "decided_by_id": actor.user_id,
                  "decided_by_label": actor.label[:150], "decided_at": timezone.now()}
        if row is None:
            save_new(actor=actor, instance=PatchApproval(company=company, update=update, device=device, **values),
                     announce=False)
        else:
            save_changed_fields(actor=actor, instance=row, changes=values, announce=False,
                                editable=("decision", "note", "decided_by_id", "decided_by_label", "decided_at"))
        changed += 1
    if changed:
        refresh_patch_status(company_ids=[company.pk])
    return changed


@transaction.atomic
def clear_decision(*, actor: Actor, patchapproval: PatchApproval) -> None:
    """Take a decision back: the policy's rules decide again."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=patchapproval.company_id)
    company_id = patchapproval.company_id
    delete_row(actor=actor, instance=patchapproval)
    refresh_patch_status(company_ids=[company_id])


def scan_now(*, actor: Actor, devices: Iterable[Device]) -> BulkResult:
    """Ask each device to look for updates now (its package sources refreshed first)."""
    chosen = list(devices)
    if len(chosen) == 1:
        return BulkResult(batch=None, queued=1, action=queue_action(actor=actor, device=chosen[0],
                                                                    spec=scan_spec(actor=actor)))
    return queue_bulk(actor=actor, devices=chosen, spec=scan_spec(actor=actor))


@transaction.atomic
def install_approved_now(*, actor: Actor, device: Device) -> Action:
    """Install what is approved for the device now, outside its window, restarting as its policy says."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=device.company_id)
    found = next(evaluate(device_ids=[device.pk]), None)
    if found is None or found.policy is None:
        raise ValidationError("No patch policy reaches this device: approve updates through a policy, or install "
                              "them by id from the run page.")
    approved = [update.pk for update, verdict in found.verdicts if verdict.state == State.APPROVED]
    if not approved:
        raise ValidationError("Nothing is approved for this device right now.")
    updates = list(PatchUpdate.objects.filter(pk__in=approved[:500]))
    spec = updates_spec(updates=install_entries(updates), reboot=found.policy.reboot_payload(),
                        title=f"Install {len(updates)} approved update(s) now")
    return queue_action(actor=actor, device=device, spec=spec)


@transaction.atomic
def set_report_schedule(*, actor: Actor, company: Company, recipients: list[str], day_of_month: int = 1,
                        enabled: bool = True) -> ComplianceReportSchedule:
    """Mail the company's compliance report every month (its admins)."""
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=company.pk)
    schedule = ComplianceReportSchedule.objects.filter(company=company).first()
    values = {"recipients": recipients, "day_of_month": day_of_month, "enabled": enabled}
    if schedule is None:
        return save_new(actor=actor, instance=ComplianceReportSchedule(company=company, **values))
    save_changed_fields(actor=actor, instance=schedule, changes=values, editable=tuple(values))
    return schedule


@transaction.atomic
def delete_report_schedule(*, actor: Actor, compliancereportschedule: ComplianceReportSchedule) -> None:
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=compliancereportschedule.company_id)
    delete_row(actor=actor, instance=compliancereportschedule)


def record_report_sent(*, schedule: ComplianceReportSchedule, actor: Actor, on: date) -> None:
    schedule.last_sent_on = on
    schedule.save(update_fields=["last_sent_on"])
    record(actor=actor, action="compliancereportschedule.sent", target=schedule, company_id=schedule.company_id,
           after={"recipients": schedule.recipients, "on": str(schedule.last_sent_on)})
