"""GraphQL for remote actions: the library (scripts, software, profiles), actions and their batches,
schedules; mutations to manage them and to run, cancel, apply and instantiate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
import strawberry_django
from django.db.models import Q, QuerySet
from strawberry import UNSET, auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, delete_node, sent_fields, words_matching
from graph.context import actor_from
from graph.dynamic_groups import DynamicGroupNode
from graph.errors import DeletePayload, MutationError, Payload, attempt, id_filter, lookup, node_pk
from graph.inventory import DeviceNode
from graph.policies import PolicyNode
from graph.scoping import Visible
from graph.tags import TagNode
from graph.tenancy import CompanyNode, GroupNode, SiteNode
from portal.actions import selectors, services
from portal.actions.models import (
    Action,
    ActionBatch,
    ActionSchedule,
    DeploymentProfile,
    ProfileTask,
    Script,
    ScriptVersion,
    SoftwareItem,
)
from portal.actions.specs import ActionSpec, patches_spec, reboot_spec, script_spec, software_spec
from portal.dynamic_groups.selectors import dynamic_groups_for
from portal.inventory.selectors import devices_for
from portal.policies.selectors import policies_for
from portal.tags.selectors import tags_for
from portal.tenancy.selectors import companies_for, groups_for, sites_for


@strawberry_django.type(ScriptVersion, name="ScriptVersion")
class ScriptVersionNode(Visible, relay.Node):
    number: auto
    name: auto
    language: auto
    content: auto
    arguments: JSON
    environment: JSON
    parameters: JSON
    changed_fields: JSON
    changed_by_label: auto
    created_at: datetime


@strawberry_django.filter_type(Script, lookups=True)
class ScriptFilter:
    name: auto
    language: auto
    target_os: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return words_matching(value, "name", "description", "content", prefix=prefix)


@strawberry_django.type(Script, name="Script", filters=ScriptFilter)
class ScriptNode(Visible, relay.Node):
    """A library script; ``versions`` is its change history, newest first."""

    name: auto
    description: auto
    language: auto
    content: auto
    default_timeout: auto
    arguments: JSON
    environment: JSON
    parameters: JSON = strawberry_django.field(description="What callers may fill in: name, type (text, number, "
                                                           "bool, choice), default, required, description, "
                                                           "choices, via (env or argument).")
    target_os: auto
    sets_field: str = strawberry_django.field(description="A device custom field the last line of a succeeded "
                                                          "run's output sets (empty: none).")

    @strawberry_django.field(only=["sets_tags"], description="Tags a succeeded run's output may put on or take "
                                                             "off its device ('fleetwatch-tag: +name').")
    def sets_tags(self, info: Info) -> list[TagNode]:
        return list(tags_for(actor=actor_from(info)).filter(pk__in=self.sets_tags or []))
    version: auto
    created_at: datetime
    updated_at: datetime
    versions: DjangoListConnection[ScriptVersionNode] = strawberry_django.connection(
        max_results=MAX_PAGE, description="The script's saved versions, newest first.")


@strawberry_django.type(SoftwareItem, name="SoftwareItem")
class SoftwareItemNode(Visible, relay.Node):
    name: auto
    description: auto
    winget_id: auto
    choco_id: auto
    apt_name: auto
    dnf_name: auto
    brew_name: auto


@strawberry_django.type(ProfileTask, name="ProfileTask")
class ProfileTaskNode(Visible, relay.Node):
    name: auto
    order_index: auto
    action_type: auto
    script: ScriptNode | None
    software: SoftwareItemNode | None
    options: JSON
    continue_on_error: auto


@strawberry_django.type(DeploymentProfile, name="DeploymentProfile")
class DeploymentProfileNode(Visible, relay.Node):
    name: auto
    description: auto
    target_os: auto
    is_template: auto
    tasks: list[ProfileTaskNode] = strawberry_django.field(description="In order; a profile holds at most "
                                                                      f"{services.MAX_PROFILE_TASKS} tasks.")
    updated_at: datetime


@strawberry_django.type(ActionBatch, name="ActionBatch")
class ActionBatchNode(Visible, relay.Node):
    """Actions requested together (bulk or profile roll-out)."""

    title: auto
    requested_by_label: auto
    created_at: datetime

    @strawberry_django.field(description="Counts per status (of the actions you may see), total, finished, percent.")
    def summary(self, info: Info) -> JSON:
        return selectors.batch_summary(actor=actor_from(info), batch=self)


@strawberry_django.filter_type(Action, lookups=True)
class ActionFilter:
    status: auto
    action_type: auto
    requested_by_label: auto
    queued_at: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return words_matching(value, "title", "device_label", "requested_by_label", prefix=prefix)

    @strawberry_django.filter_field
    def device(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Device", column="device_id", prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)

    @strawberry_django.filter_field
    def batch(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="ActionBatch", column="batch_id", prefix=prefix)


@strawberry_django.order_type(Action)
class ActionOrder:
    queued_at: auto
    finished_at: auto
    status: auto


@strawberry_django.type(Action, name="Action", filters=ActionFilter, ordering=ActionOrder)
class ActionNode(Visible, relay.Node):
    """One thing done on one device, from request to result."""

    action_type: auto
    status: auto
    title: auto
    payload: JSON
    script: ScriptNode | None
    script_version: auto
    batch: ActionBatchNode | None
    continue_on_error: auto
    requested_by_label: auto
    timeout_seconds: auto
    queued_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    delivery_count: auto
    exit_code: auto
    stdout: auto
    stderr: auto
    stdout_truncated: auto
    stderr_truncated: auto
    result: JSON
    error: auto
    device: DeviceNode | None = strawberry_django.field(description="Null once the device is deleted: the history "
                                                                     "stays, with deviceLabel.")
    device_label: auto = strawberry_django.field(description="The device's hostname when the action was requested.")
    company: CompanyNode


@strawberry_django.type(ActionSchedule, name="ActionSchedule")
class ActionScheduleNode(Visible, relay.Node):
    name: auto
    company: CompanyNode | None = strawberry_django.field(description="Null: a schedule of an MSP-wide policy.")
    policy: PolicyNode | None
    site: SiteNode | None
    group: GroupNode | None
    device: DeviceNode | None
    dynamic_group: DynamicGroupNode | None
    os_type: auto
    script: ScriptNode | None
    profile: DeploymentProfileNode | None
    parameters: JSON
    kind: auto
    run_at: datetime | None
    every: auto
    enabled: auto
    last_run_at: datetime | None
    actions: DjangoListConnection[ActionNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry.type
class ActionsQuery:
    scripts: DjangoListConnection[ScriptNode] = strawberry_django.connection(max_results=MAX_PAGE)
    software_items: DjangoListConnection[SoftwareItemNode] = strawberry_django.connection(max_results=MAX_PAGE)
    deployment_profiles: DjangoListConnection[DeploymentProfileNode] = strawberry_django.connection(
        max_results=MAX_PAGE)
    actions: DjangoListConnection[ActionNode] = strawberry_django.connection(max_results=MAX_PAGE)
    action_schedules: DjangoListConnection[ActionScheduleNode] = strawberry_django.connection(max_results=MAX_PAGE)


# --- inputs -----------------------------------------------------------------------------------------

@strawberry.input(description="Where to run: some devices, or every device of a group, site or company.")
class TargetInput:
    devices: list[relay.GlobalID] | None = None
    group: relay.GlobalID | None = None
    site: relay.GlobalID | None = None
    company: relay.GlobalID | None = None
    dynamic_group: relay.GlobalID | None = strawberry.field(default=None, description="…or the devices of a dynamic "
                                                                                    "group, evaluated now.")
    os_type: str | None = strawberry.field(default=None, description="Only devices with this OS.")


@strawberry.input
class RunScriptInput:
    target: TargetInput
    script: relay.GlobalID | None = strawberry.field(default=None, description="A library script…")
    inline_content: str | None = strawberry.field(default=None, description="…or an ad-hoc script (permission).")
    inline_language: str | None = None
    parameters: JSON | None = strawberry.field(default=None, description="Values of the library script's declared "
                                                                         "parameters, name → value (typed).")
    arguments: list[str] | None = strawberry.field(default=None, description="Free arguments (inline-script "
                                                                             "permission).")
    environment: JSON | None = strawberry.field(default=None, description="Free environment variables "
                                                                          "(inline-script permission).")
    timeout: int | None = None
    run_as: str = ""


@strawberry.input
class RebootInput:
    target: TargetInput
    delay_seconds: int = 0
    message: str = ""


@strawberry.input
class InstallPatchesInput:
    target: TargetInput
    patch_ids: list[str]
    reboot_after: bool = False


@strawberry.input
class InstallSoftwareInput:
    target: TargetInput
    software: relay.GlobalID


@strawberry.input
class ApplyProfileInput:
    target: TargetInput
    profile: relay.GlobalID


@strawberry_django.input(Script)
class ScriptCreateInput:
    name: auto
    content: auto
    language: str
    description: auto = ""
    default_timeout: auto = 300
    arguments: list[str] | None = None
    environment: auto = None
    parameters: auto = None
    target_os: auto = ""
    sets_field: auto = ""
    sets_tags: list[relay.GlobalID] | None = None


@strawberry_django.partial(Script)
class ScriptUpdateInput:
    id: relay.GlobalID
    name: auto
    content: auto
    language: auto
    description: auto
    default_timeout: auto
    arguments: list[str] | None = UNSET
    environment: auto
    parameters: auto
    target_os: auto
    sets_field: auto
    sets_tags: list[relay.GlobalID] | None = UNSET


@strawberry_django.input(SoftwareItem)
class SoftwareItemCreateInput:
    name: auto
    description: auto = ""
    winget_id: auto = ""
    choco_id: auto = ""
    apt_name: auto = ""
    dnf_name: auto = ""
    brew_name: auto = ""


@strawberry_django.input(DeploymentProfile)
class ProfileCreateInput:
    name: auto
    description: auto = ""
    target_os: auto = ""
    is_template: auto = False


@strawberry_django.input(ProfileTask)
class ProfileTaskInput:
    profile: relay.GlobalID
    name: auto
    action_type: auto
    order_index: int | None = strawberry.field(default=None, description="Where it goes; omitted: last.")
    script: relay.GlobalID | None = None
    software: relay.GlobalID | None = None
    options: auto = None
    continue_on_error: auto = False


@strawberry.input
class InstantiateTemplateInput:
    template: relay.GlobalID
    name: str
    description: str | None = None


@strawberry_django.input(ActionSchedule)
class ScheduleCreateInput:
    name: auto
    company: relay.GlobalID | None = strawberry.field(default=None, description="The company it runs for…")
    policy: relay.GlobalID | None = strawberry.field(default=None, description="…or a policy: every device it "
                                                                              "reaches, at each run.")
    kind: str
    script: relay.GlobalID | None = None
    profile: relay.GlobalID | None = None
    site: relay.GlobalID | None = None
    group: relay.GlobalID | None = None
    device: relay.GlobalID | None = None
    dynamic_group: relay.GlobalID | None = strawberry.field(default=None, description="Only the company's devices "
                                                                                    "in this dynamic group.")
    os_type: auto = ""
    parameters: auto = None
    run_at: auto = None
    every: auto = None
    enabled: auto = True


@strawberry_django.partial(ActionSchedule)
class ScheduleUpdateInput:
    id: relay.GlobalID
    name: auto
    kind: auto
    run_at: auto
    every: auto
    enabled: auto
    os_type: auto
    parameters: auto


@strawberry.type
class SkippedDevice:
    device: DeviceNode
    reason: str


@strawberry.type(description="What a run queued: one action per device (or a batch), devices skipped and why.")
class RunPayload:
    actions: list[ActionNode] = strawberry.field(default_factory=list)
    batch: ActionBatchNode | None = None
    skipped: list[SkippedDevice] = strawberry.field(default_factory=list)
    errors: list[MutationError] = strawberry.field(default_factory=list)


# --- helpers -----------------------------------------------------------------------------------------

def _with_tag_pks(fields: dict[str, Any]) -> dict[str, Any]:
    """``setsTags`` global ids as tag ids (one naming no tag is refused by the service)."""
    if "sets_tags" in fields:
        fields["sets_tags"] = [node_pk(value, type_name="Tag") or -1 for value in fields["sets_tags"] or []]
    return fields


def _targets(actor: Any, target: TargetInput) -> services.Targets:
    """The input's target, its group, site or company looked up through the caller's scope."""
    return services.Targets(
        # An id that names no device (malformed, another type) matches nothing, like one the caller may not see.
        device_ids=tuple(node_pk(g, type_name="Device") or -1 for g in target.devices or ()),
        group=lookup(groups_for(actor=actor), target.group, type_name="Group", field="group") if target.group
        else None,
        site=lookup(sites_for(actor=actor), target.site, type_name="Site", field="site") if target.site else None,
        company=lookup(companies_for(actor=actor), target.company, type_name="Company", field="company")
        if target.company else None,
        dynamic_group=lookup(dynamic_groups_for(actor=actor), target.dynamic_group, type_name="DynamicGroup",
                             field="dynamicGroup") if target.dynamic_group else None,
        os_type=target.os_type or None)


def _run(info: Info, target: TargetInput, make_spec=None, *, profile_id: relay.GlobalID | None = None) -> RunPayload:
    """Queue through the one run-on-targets service: an action on one picked device, a batch otherwise.
    ``make_spec`` builds the action for a script, reboot, patches or software; a profile brings its own."""
    actor = actor_from(info)

    def write() -> RunPayload:
        spec: ActionSpec | None = make_spec(actor) if make_spec else None
        profile = None if spec is not None else _library_lookup(
            actor, selectors.profiles_for(actor=actor), profile_id, "DeploymentProfile", "profile")
        result = services.run_on_targets(actor=actor, targets=_targets(actor, target), spec=spec, profile=profile)
        if result.action is not None:
            return RunPayload(actions=[result.action])
        actions = list(selectors.actions_for(actor=actor).filter(batch=result.batch)[:MAX_PAGE]) if result.batch \
            else []
        return RunPayload(actions=actions, batch=result.batch,
                          skipped=[SkippedDevice(device=d, reason=r) for d, r in result.skipped])

    payload, errors = attempt(write)
    return payload or RunPayload(errors=errors)


def _library_lookup(actor: Any, rows: QuerySet, global_id: relay.GlobalID | None, type_name: str, field: str):
    """A library row by an optional global id, through the caller's scoped rows."""
    return None if global_id is None else lookup(rows, global_id, type_name=type_name, field=field)


@strawberry.type
class ActionsMutation:
    @strawberry.mutation(description="Run a library script (operators) or an ad-hoc one (with the permission).")
    def run_script(self, info: Info, input: RunScriptInput) -> RunPayload:
        def spec(actor):
            script = _library_lookup(actor, selectors.scripts_for(actor=actor), input.script, "Script", "script")
            return script_spec(actor=actor, script=script, inline_content=input.inline_content,
                               inline_language=input.inline_language, parameters=input.parameters,
                               arguments=input.arguments, environment=input.environment, timeout=input.timeout,
                               run_as=input.run_as)
        return _run(info, input.target, spec)

    @strawberry.mutation(description="Reboot now or after a delay; logged-in users are warned (operators).")
    def reboot(self, info: Info, input: RebootInput) -> RunPayload:
        return _run(info, input.target, lambda actor: reboot_spec(actor=actor, delay_seconds=input.delay_seconds,
                                                                  message=input.message))

    @strawberry.mutation(description="Install patches by id, optionally rebooting after (operators).")
    def install_patches(self, info: Info, input: InstallPatchesInput) -> RunPayload:
        return _run(info, input.target, lambda actor: patches_spec(actor=actor, patch_ids=input.patch_ids,
                                                                   reboot_after=input.reboot_after))

    @strawberry.mutation(description="Install a package from the software catalogue (operators).")
    def install_software(self, info: Info, input: InstallSoftwareInput) -> RunPayload:
        return _run(info, input.target, lambda actor: software_spec(actor=actor, software=_library_lookup(
            actor, selectors.software_items_for(actor=actor), input.software, "SoftwareItem", "software")))

    @strawberry.mutation(description="Queue a profile's tasks on each device, in order (operators).")
    def apply_profile(self, info: Info, input: ApplyProfileInput) -> RunPayload:
        return _run(info, input.target, profile_id=input.profile)

    @strawberry.mutation(description="Cancel a waiting or queued action, or kill a running one (operators).")
    def cancel_action(self, info: Info, input: NodeInput) -> Payload[ActionNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.cancel_action(
            actor=actor, action=lookup(selectors.actions_for(actor=actor), input.id, type_name="Action")))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Add a library script (admins).")
    def create_script(self, info: Info, input: ScriptCreateInput) -> Payload[ScriptNode]:
        node, errors = attempt(lambda: services.create_script(actor=actor_from(info),
                                                              **_with_tag_pks(sent_fields(input))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a library script; each change becomes a new version (admins).")
    def update_script(self, info: Info, input: ScriptUpdateInput) -> Payload[ScriptNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_script(
            actor=actor, script=_library_lookup(actor, selectors.scripts_for(actor=actor), input.id, "Script", "id"),
            **_with_tag_pks(sent_fields(input, services.SCRIPT_FIELDS, keep_nulls=True))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a library script (admins).")
    def delete_script(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.scripts_for, type_name="Script",
                           delete=services.delete_script, noun="script", global_id=input.id)

    @strawberry.mutation(description="Add a catalogue package (admins).")
    def create_software_item(self, info: Info, input: SoftwareItemCreateInput) -> Payload[SoftwareItemNode]:
        node, errors = attempt(lambda: services.create_software_item(actor=actor_from(info), **sent_fields(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a catalogue package (admins).")
    def delete_software_item(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.software_items_for, type_name="SoftwareItem",
                           delete=services.delete_software_item, noun="softwareitem", global_id=input.id)

    @strawberry.mutation(description="Add a deployment profile or template (admins).")
    def create_deployment_profile(self, info: Info, input: ProfileCreateInput) -> Payload[DeploymentProfileNode]:
        node, errors = attempt(lambda: services.create_profile(actor=actor_from(info), **sent_fields(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a deployment profile (admins).")
    def delete_deployment_profile(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.profiles_for, type_name="DeploymentProfile",
                           delete=services.delete_profile, noun="deploymentprofile", global_id=input.id)

    @strawberry.mutation(description="Add a task to a profile; without an order index it goes last (admins).")
    def add_profile_task(self, info: Info, input: ProfileTaskInput) -> Payload[ProfileTaskNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.add_profile_task(
            actor=actor, profile=_library_lookup(actor, selectors.profiles_for(actor=actor), input.profile,
                                                 "DeploymentProfile", "profile"),
            name=input.name, action_type=input.action_type, order_index=input.order_index,
            script=_library_lookup(actor, selectors.scripts_for(actor=actor), input.script, "Script", "script"),
            software=_library_lookup(actor, selectors.software_items_for(actor=actor), input.software, "SoftwareItem",
                                     "software"),
            options=input.options or {}, continue_on_error=bool(input.continue_on_error)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Remove a task from its profile (admins).")
    def delete_profile_task(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.profile_tasks_for, type_name="ProfileTask",
                           delete=services.delete_profile_task, noun="profiletask", global_id=input.id)

    @strawberry.mutation(description="Copy a template into a new, editable profile (admins).")
    def instantiate_template(self, info: Info, input: InstantiateTemplateInput) -> Payload[DeploymentProfileNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.instantiate_template(
            actor=actor, template=_library_lookup(actor, selectors.profiles_for(actor=actor), input.template,
                                                  "DeploymentProfile", "template"),
            name=input.name, description=input.description))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Schedule a script or profile on a company, site, group or device (operators).")
    def create_action_schedule(self, info: Info, input: ScheduleCreateInput) -> Payload[ActionScheduleNode]:
        actor = actor_from(info)

        def write() -> ActionSchedule:
            placement = {
                "site": lookup(sites_for(actor=actor), input.site, type_name="Site", field="site") if input.site
                else None,
                "group": lookup(groups_for(actor=actor), input.group, type_name="Group", field="group")
                if input.group else None,
                "device": lookup(devices_for(actor=actor), input.device, type_name="Device", field="device")
                if input.device else None,
                "dynamic_group": lookup(dynamic_groups_for(actor=actor), input.dynamic_group,
                                        type_name="DynamicGroup", field="dynamicGroup") if input.dynamic_group
                else None,
            }
            return services.create_schedule(
                actor=actor, company=lookup(companies_for(actor=actor), input.company, type_name="Company",
                                            field="company") if input.company else None,
                policy=lookup(policies_for(actor=actor), input.policy, type_name="Policy", field="policy")
                if input.policy else None,
                name=input.name, kind=input.kind, parameters=input.parameters or {},
                **sent_fields(input, ("os_type", "run_at", "every", "enabled")),
                script=_library_lookup(actor, selectors.scripts_for(actor=actor), input.script, "Script", "script"),
                profile=_library_lookup(actor, selectors.profiles_for(actor=actor), input.profile, "DeploymentProfile",
                                        "profile"),
                **placement)

        node, errors = attempt(write)
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a schedule: timing, enabled, OS filter, parameters (operators).")
    def update_action_schedule(self, info: Info, input: ScheduleUpdateInput) -> Payload[ActionScheduleNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_schedule(
            actor=actor, actionschedule=lookup(selectors.schedules_for(actor=actor), input.id,
                                               type_name="ActionSchedule"),
            **sent_fields(input, ("name", "kind", "run_at", "every", "enabled", "os_type", "parameters"),
                          keep_nulls=True)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a schedule (past actions stay in the history) (operators).")
    def delete_action_schedule(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.schedules_for, type_name="ActionSchedule",
                           delete=services.delete_schedule, noun="actionschedule", global_id=input.id)
