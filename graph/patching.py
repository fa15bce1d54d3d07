"""GraphQL for patch management: the catalogue (with counts of the caller's devices), outcomes, the approval
queue and decisions, policies' patching and windows, each device's verdicts, and compliance with its history.
Reads go through the one rule; writes through the patching services."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
import strawberry_django
from django.core.exceptions import ValidationError
from django.db.models import Q
from strawberry import UNSET, auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, delete_node, sent_fields, words_matching
from graph.context import actor_from
from graph.cost import LIST_BOUND
from graph.errors import DeletePayload, MutationError, Payload, attempt, id_filter, lookup, lookup_argument
from graph.policies import PolicyNode
from graph.scoping import Visible
from graph.tenancy import CompanyNode
from portal.actions.models import Action
from portal.inventory.models import PatchOutcome, PatchUpdate
from portal.inventory.selectors import devices_for
from portal.patching import selectors, services
from portal.patching.compliance import Figures, compliance_by_company, history, total
from portal.patching.models import (
    ComplianceReportSchedule,
    DevicePatchStatus,
    PatchApproval,
    PatchPolicy,
    PatchQueueEntry,
    PatchWindow,
    RebootMode,
)
from portal.policies.selectors import policies_for
from portal.tenancy.selectors import companies_for

if TYPE_CHECKING:
    from graph.actions import ActionNode
    from graph.inventory import DeviceNode

DeviceRef = Annotated["DeviceNode", strawberry.lazy("graph.inventory")]
ActionRef = Annotated["ActionNode", strawberry.lazy("graph.actions")]
MAX_IDS = 1000


def _counts(info: Info, update: PatchUpdate) -> selectors.Counts:
    """The update's counts over the caller's devices, computed once per request for a scoped caller."""
    actor = actor_from(info)
    if actor.sees_all_companies:
        return selectors.Counts(update.devices_needing, update.devices_installed, update.devices_failed)
    context: Any = info.context
    memo = context.setdefault("patch_counts", None) if isinstance(context, dict) else getattr(
        context, "patch_counts", None)
    if memo is None:
        memo = selectors.update_counts(actor=actor)
        if isinstance(context, dict):
            context["patch_counts"] = memo
        else:
            context.patch_counts = memo
    return memo.get(update.pk, selectors.Counts())


@strawberry_django.filter_type(PatchUpdate, lookups=True)
class PatchUpdateFilter:
    category: auto
    severity: auto
    source: auto
    identifier: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        """Every word in the KB, package name, version or title."""
        return words_matching(value, "identifier", "title", "version", prefix=prefix)


@strawberry_django.order_type(PatchUpdate)
class PatchUpdateOrder:
    identifier: auto
    first_seen_at: auto
    devices_needing: auto


@strawberry_django.type(PatchUpdate, name="PatchUpdate", filters=PatchUpdateFilter, ordering=PatchUpdateOrder)
class PatchUpdateNode(Visible, relay.Node):
    """One update across the fleet: a KB, a package at a version, a macOS label, an application."""

    source: auto
    identifier: str = strawberry_django.field(description="What the installer takes: a KB, a package, a label.")
    version: auto
    title: auto
    category: auto
    severity: auto
    size_bytes: float | None
    reboot_required: bool | None = strawberry_django.field(description="Null: the platform does not say.")
    released_at: dt.datetime | None
    first_seen_at: dt.datetime

    @strawberry_django.field(only=["devices_needing"], description="How many of your devices need it.")
    def devices_needing_count(self, info: Info) -> int:
        return _counts(info, self).needing

    @strawberry_django.field(only=["devices_installed"], description="How many of your devices have it.")
    def devices_installed_count(self, info: Info) -> int:
        return _counts(info, self).installed

    @strawberry_django.field(only=["devices_failed"], description="How many of your devices failed to install it.")
    def devices_failed_count(self, info: Info) -> int:
        return _counts(info, self).failed


@strawberry_django.filter_type(PatchOutcome, lookups=True)
class PatchOutcomeFilter:
    state: auto

    @strawberry_django.filter_field
    def device(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Device", column="device_id", prefix=prefix)

    @strawberry_django.filter_field
    def update(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="PatchUpdate", column="update_id", prefix=prefix)


@strawberry_django.type(PatchOutcome, name="PatchOutcome", filters=PatchOutcomeFilter)
class PatchOutcomeNode(Visible, relay.Node):
    """What became of an update on a device: installed, failed (and still needed) or superseded."""

    device: DeviceRef
    update: PatchUpdateNode
    state: auto
    at: dt.datetime
    attempts: auto
    result_code: auto
    detail: auto
    action_number: int | None = strawberry_django.field(description="The install action that decided it.")


@strawberry_django.type(PatchWindow, name="PatchWindow")
class PatchWindowNode(Visible, relay.Node):
    """When a policy's approved updates install, in each device's company's time zone."""

    frequency: auto
    weekdays: list[int] = strawberry_django.field(description="Weekly: 0 = Monday … 6 = Sunday.")
    week_of_month: auto
    weekday: auto
    starts_at: dt.time
    duration_minutes: auto

    @strawberry_django.field(only=["frequency", "weekdays", "week_of_month", "weekday", "starts_at",
                                   "duration_minutes"])
    def description(self) -> str:
        return str(self)


@strawberry_django.type(PatchPolicy, name="PatchPolicy")
class PatchPolicyNode(Visible, relay.Node):
    """The patching of an automation policy."""

    policy: PolicyNode
    enabled: auto
    rules: JSON = strawberry_django.field(description="Approval rules, first match wins: category (or *), "
                                                      "min_severity, action (approve, deny, manual), defer_days.")
    deny_list: list[str]
    catch_up: auto
    include_applications: auto
    suppress_alerts: auto
    reboot_mode: auto
    reboot_warning_minutes: auto
    reboot_max_postpone_minutes: auto
    reboot_message: auto

    @strawberry_django.field(description=f"Its windows (at most {LIST_BOUND}).")
    def windows(self, info: Info) -> list[PatchWindowNode]:
        return list(selectors.patch_windows_for(actor=actor_from(info)).filter(policy_id=self.policy_id)[:LIST_BOUND])


@strawberry_django.filter_type(PatchApproval, lookups=True)
class PatchApprovalFilter:
    decision: auto

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)

    @strawberry_django.filter_field
    def device(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Device", column="device_id", prefix=prefix)


@strawberry_django.type(PatchApproval, name="PatchApproval", filters=PatchApprovalFilter)
class PatchApprovalNode(Visible, relay.Node):
    """A technician's decision on an update, for a company or (device set) one device."""

    company: CompanyNode
    device: DeviceRef | None
    update: PatchUpdateNode
    decision: auto
    note: auto
    decided_by_label: auto
    decided_at: dt.datetime


@strawberry_django.filter_type(PatchQueueEntry, lookups=True)
class PatchQueueFilter:
    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)


@strawberry_django.type(PatchQueueEntry, name="PatchQueueEntry", filters=PatchQueueFilter)
class PatchQueueEntryNode(Visible, relay.Node):
    """An update waiting for a technician's decision in a company."""

    company: CompanyNode
    update: PatchUpdateNode
    devices: int = strawberry_django.field(description="How many of the company's devices need it.")
    first_seen_at: dt.datetime


@strawberry_django.type(DevicePatchStatus, name="DevicePatchStatus")
class DevicePatchStatusNode(Visible, relay.Node):
    """A device's patch summary as the approval evaluation last found it."""

    policy: PolicyNode | None
    pending: int
    approved: int
    deferred: int
    awaiting: int
    denied: int
    unmanaged: int
    missing_critical: int
    failed: int
    next_window_at: dt.datetime | None
    evaluated_at: dt.datetime

    @strawberry_django.field(only=["approved", "deferred", "awaiting", "unmanaged"])
    def fully_patched(self) -> bool:
        return self.fully_patched


@strawberry.type(description="The verdict on one update a device needs, and why.")
class PatchVerdict:
    update: PatchUpdateNode
    from_version: str
    state: str = strawberry.field(description="approved, deferred, awaiting, denied, unmanaged or excluded.")
    reason: str
    install_from: dt.datetime | None


@strawberry.type
class ComplianceFigures:
    devices: int
    fully_patched: int
    missing_critical: int
    failed: int
    reboot_pending: int
    scanned_recently: int = strawberry.field(description="Scanned successfully in the last 7 days.")


def _figures(figures: Figures) -> ComplianceFigures:
    return ComplianceFigures(**figures.__dict__)


@strawberry.type
class CompanyCompliance:
    company: CompanyNode
    figures: ComplianceFigures
    last_scan: dt.datetime | None


@strawberry.type
class ComplianceDay:
    day: dt.date
    figures: ComplianceFigures


@strawberry.type(description="Compliance of the devices the agent manages: in total and per company.")
class PatchCompliance:
    total: ComplianceFigures
    companies: list[CompanyCompliance]
    history: list[ComplianceDay] = strawberry.field(description="The last 90 days, oldest first.")


@strawberry_django.type(ComplianceReportSchedule, name="ComplianceReport")
class ComplianceReportNode(Visible, relay.Node):
    """A company's monthly compliance report by email."""

    company: CompanyNode
    recipients: list[str]
    day_of_month: auto
    enabled: auto
    last_sent_on: dt.date | None


@strawberry.type
class PatchingQuery:
    patch_updates: DjangoListConnection[PatchUpdateNode] = strawberry_django.connection(max_results=MAX_PAGE)
    patch_outcomes: DjangoListConnection[PatchOutcomeNode] = strawberry_django.connection(max_results=MAX_PAGE)
    patch_approvals: DjangoListConnection[PatchApprovalNode] = strawberry_django.connection(max_results=MAX_PAGE)
    patch_approval_queue: DjangoListConnection[PatchQueueEntryNode] = strawberry_django.connection(
        max_results=MAX_PAGE, description="Updates waiting for a technician's decision, per company.")
    patch_policies: DjangoListConnection[PatchPolicyNode] = strawberry_django.connection(max_results=MAX_PAGE)
    compliance_reports: DjangoListConnection[ComplianceReportNode] = strawberry_django.connection(
        max_results=MAX_PAGE, description="Companies' monthly compliance reports by email.")

    @strawberry.field(description="The verdict on each update a device needs (computed now).")
    def device_patch_verdicts(self, info: Info, device: relay.GlobalID) -> list[PatchVerdict]:
        actor = actor_from(info)
        found = lookup_argument(devices_for(actor=actor), device, type_name="Device", argument="device")
        view = selectors.device_patching(actor=actor, device=found)
        return [PatchVerdict(update=pending.update, from_version=pending.from_version, state=verdict.state,
                             reason=verdict.reason, install_from=verdict.install_from)
                for pending, verdict in view.updates[:2000]]

    @strawberry.field(description="Compliance in total and per company you see; history of one company or all.")
    def patch_compliance(self, info: Info, company: relay.GlobalID | None = None) -> PatchCompliance:
        actor = actor_from(info)
        chosen = lookup_argument(companies_for(actor=actor), company, type_name="Company", argument="company") \
            if company else None
        entries = [entry for entry in compliance_by_company(actor=actor)
                   if chosen is None or entry.company_id == chosen.pk]
        companies = companies_for(actor=actor).in_bulk([entry.company_id for entry in entries])
        return PatchCompliance(
            total=_figures(total(entries)),
            companies=[CompanyCompliance(company=companies[entry.company_id], figures=_figures(entry.figures),
                                         last_scan=entry.last_scan) for entry in entries],
            history=[ComplianceDay(day=day, figures=_figures(figures))
                     for day, figures in history(actor=actor, company=chosen)])


RebootModeEnum = strawberry.enum(Enum("RebootMode", {choice.upper(): choice for choice in RebootMode.values}),
                                 name="RebootMode")


@strawberry.input(description="Turn on or change a policy's patching; fields left out keep their value.")
class SetPatchingInput:
    policy: relay.GlobalID
    enabled: bool | None = UNSET
    rules: JSON | None = UNSET
    deny_list: list[str] | None = UNSET
    catch_up: bool | None = UNSET
    include_applications: bool | None = UNSET
    suppress_alerts: bool | None = UNSET
    reboot_mode: RebootModeEnum | None = UNSET  # type: ignore[valid-type]
    reboot_warning_minutes: int | None = UNSET
    reboot_max_postpone_minutes: int | None = UNSET
    reboot_message: str | None = UNSET


@strawberry.input
class AddPatchWindowInput:
    policy: relay.GlobalID
    frequency: str = strawberry.field(description="daily, weekly or monthly.")
    starts_at: dt.time = strawberry.field(description="Local time in each device's company's time zone.")
    duration_minutes: int = 240
    weekdays: list[int] | None = None
    week_of_month: int | None = strawberry.field(default=None, description="Monthly: 1–4, or 5 for the last.")
    weekday: int | None = None


@strawberry.input(description="Approve or deny updates for a company, or with device for that device only.")
class DecidePatchesInput:
    company: relay.GlobalID
    updates: list[relay.GlobalID] = strawberry.field(default_factory=list)
    decision: str = strawberry.field(description="approved or denied.")
    device: relay.GlobalID | None = None
    note: str = ""


@strawberry.type
class DecidePatchesPayload:
    changed: int
    errors: list[MutationError]


@strawberry.input
class ScanForUpdatesInput:
    devices: list[relay.GlobalID] = strawberry.field(default_factory=list)


@strawberry.type
class ScanForUpdatesPayload:
    queued: int
    skipped: list[str] = strawberry.field(description="Devices left out, with why.")
    errors: list[MutationError]


@strawberry.input
class ComplianceReportInput:
    company: relay.GlobalID
    recipients: list[str] = strawberry.field(default_factory=list, description="1 to 20 email addresses.")
    day_of_month: int = 1
    enabled: bool = True


def _ids(values: list[relay.GlobalID], field: str) -> list[relay.GlobalID]:
    if len(values) > MAX_IDS:
        raise ValidationError({field: f"At most {MAX_IDS} at a time."})
    return values


@strawberry.type
class PatchingMutation:
    @strawberry.mutation(description="Turn on or change a policy's patching (whoever may change the policy).")
    def set_patching(self, info: Info, input: SetPatchingInput) -> Payload[PatchPolicyNode]:
        actor = actor_from(info)

        def write() -> PatchPolicy:
            policy = lookup(policies_for(actor=actor), input.policy, type_name="Policy", field="policy")
            changes = sent_fields(input, [name for name in services.PATCH_POLICY_FIELDS])
            if "reboot_mode" in changes:
                changes["reboot_mode"] = changes["reboot_mode"].value
            return services.set_patching(actor=actor, policy=policy, **changes)

        node, errors = attempt(write)
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Add a patch window to a policy.")
    def add_patch_window(self, info: Info, input: AddPatchWindowInput) -> Payload[PatchWindowNode]:
        actor = actor_from(info)

        def write() -> PatchWindow:
            policy = lookup(policies_for(actor=actor), input.policy, type_name="Policy", field="policy")
            fields = sent_fields(input, ("frequency", "starts_at", "duration_minutes", "weekdays", "week_of_month",
                                         "weekday"))
            return services.add_patch_window(actor=actor, policy=policy, **fields)

        node, errors = attempt(write)
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Remove a patch window.")
    def delete_patch_window(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.patch_windows_for, type_name="PatchWindow",
                           delete=services.delete_patch_window, noun="patchwindow", global_id=input.id)

    @strawberry.mutation(description="Approve or deny updates for a company or one of its devices (operators).")
    def decide_patches(self, info: Info, input: DecidePatchesInput) -> DecidePatchesPayload:
        actor = actor_from(info)

        def write() -> int:
            company = lookup(companies_for(actor=actor), input.company, type_name="Company", field="company")
            device = lookup(devices_for(actor=actor), input.device, type_name="Device", field="device") \
                if input.device else None
            visible = selectors.updates_for(actor=actor)
            updates = [lookup(visible, global_id, type_name="PatchUpdate", field="updates")
                       for global_id in _ids(input.updates, "updates")]
            return services.decide_updates(actor=actor, company=company, device=device, updates=updates,
                                           decision=input.decision, note=input.note)

        changed, errors = attempt(write)
        return DecidePatchesPayload(changed=changed or 0, errors=errors)

    @strawberry.mutation(description="Take a decision back: the policy's rules decide again.")
    def clear_patch_decision(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.approvals_for, type_name="PatchApproval",
                           delete=services.clear_decision, noun="patchapproval", global_id=input.id)

    @strawberry.mutation(description="Ask devices to look for updates now (their sources refreshed first).")
    def scan_for_updates(self, info: Info, input: ScanForUpdatesInput) -> ScanForUpdatesPayload:
        actor = actor_from(info)

        def write() -> Any:
            devices = [lookup(devices_for(actor=actor), global_id, type_name="Device", field="devices")
                       for global_id in _ids(input.devices, "devices")]
            if not devices:
                raise ValidationError({"devices": "Name at least one device."})
            return services.scan_now(actor=actor, devices=devices)

        result, errors = attempt(write)
        return ScanForUpdatesPayload(queued=result.queued if result else 0, errors=errors,
                                     skipped=[f"{device}: {why}" for device, why in (result.skipped if result else [])])

    @strawberry.mutation(description="Install what is approved for a device now, outside its window.")
    def install_approved_updates(self, info: Info, input: NodeInput) -> Payload[ActionRef]:
        actor = actor_from(info)

        def write() -> Action:
            device = lookup(devices_for(actor=actor), input.id, type_name="Device")
            return services.install_approved_now(actor=actor, device=device)

        node, errors = attempt(write)
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Mail a company's compliance report every month (its admins).")
    def set_compliance_report(self, info: Info, input: ComplianceReportInput) -> Payload[ComplianceReportNode]:
        actor = actor_from(info)

        def write() -> ComplianceReportSchedule:
            company = lookup(companies_for(actor=actor), input.company, type_name="Company", field="company")
            return services.set_report_schedule(actor=actor, company=company, recipients=input.recipients,
                                                day_of_month=input.day_of_month, enabled=input.enabled)

        node, errors = attempt(write)
        return Payload(node=node, errors=errors)

