"""The remote-actions record types of the dashboard: library, schedules and the action history."""

from __future__ import annotations

from typing import Any

from dashboard import action_forms
from portal.access import Actor, Role, is_msp_admin
from portal.actions import services
from portal.actions.models import UNFINISHED, ActionStatus, ActionType
from portal.actions.selectors import (
    actions_for,
    profile_tasks_for,
    profiles_for,
    schedules_for,
    script_versions_for,
    scripts_for,
    software_items_for,
)
from portal.pages import Column, ListFilter, Resource, company_choices, static_choices


def _requester_choices(actor: Actor) -> list[tuple[str, str]]:
    labels = actions_for(actor=actor).order_by().values_list("requested_by_label", flat=True).distinct()[:200]
    return [(label, label) for label in sorted(labels)]


def _script_detail(actor: Actor, script: Any) -> dict[str, Any]:
    return {"versions": script_versions_for(actor=actor).filter(script=script)[:50],
            "can_run": actor.has_role(Role.OPERATOR)}


def _profile_detail(actor: Actor, profile: Any) -> dict[str, Any]:
    return {"tasks": profile_tasks_for(actor=actor).filter(profile=profile),
            "can_edit_tasks": is_msp_admin(actor), "can_run": actor.has_role(Role.OPERATOR)}


def _action_detail(actor: Actor, action: Any) -> dict[str, Any]:
    return {"can_cancel": actor.has_role(Role.OPERATOR) and not action.is_finished}


def _schedule_detail(actor: Actor, schedule: Any) -> dict[str, Any]:
    from django_q.models import Schedule

    return {"recent_actions": actions_for(actor=actor).filter(schedule=schedule)[:20],
            "q_schedule": Schedule.objects.filter(pk=schedule.q_schedule_id).first() if schedule.q_schedule_id
            else None}


SCRIPTS = Resource(
    slug="scripts", noun="script", title="Script library",
    rows_for=scripts_for,
    columns=(Column("Name", "name", "name"), Column("Language", "get_language_display", "language"),
             Column("OS", "get_target_os_display", "target_os"), Column("Version", "version", "version"),
             Column("Changed", "updated_at", "updated_at")),
    search_fields=("name", "description", "content"), default_sort="name",
    form_class=action_forms.ScriptForm, create=services.create_script, update=services.update_script,
    delete=services.delete_script, create_role=Role.ADMIN, edit_role=Role.ADMIN, shared=True, writers=is_msp_admin,
    hidden_fields=("content",), detail_context=_script_detail,
    empty_hint="Add the scripts your technicians run often; every change is kept as a version.",
    filters=(ListFilter("language", "Language", "language", static_choices(
        list(action_forms.ScriptLanguage.choices))),),
)

SOFTWARE = Resource(
    slug="software", noun="softwareitem", title="Software catalogue",
    rows_for=software_items_for,
    columns=(Column("Name", "name", "name"), Column("winget", "winget_id"), Column("apt", "apt_name"),
             Column("Homebrew", "brew_name")),
    search_fields=("name", "description", "winget_id", "choco_id", "apt_name", "dnf_name", "brew_name"),
    default_sort="name", form_class=action_forms.SoftwareItemForm, create=services.create_software_item,
    update=services.update_software_item, delete=services.delete_software_item, create_role=Role.ADMIN,
    edit_role=Role.ADMIN, shared=True, writers=is_msp_admin,
    empty_hint="List the packages technicians may install, with their id in winget, apt, Homebrew and others.",
)

PROFILES = Resource(
    slug="profiles", noun="deploymentprofile", title="Deployment profiles",
    rows_for=profiles_for,
    columns=(Column("Name", "name", "name"), Column("Tasks", "task_count", "task_count"),
             Column("OS", "get_target_os_display", "target_os"), Column("Template", "is_template", "is_template"),
             Column("Changed", "updated_at", "updated_at")),
    search_fields=("name", "description"), default_sort="name", form_class=action_forms.ProfileForm,
    create=services.create_profile, update=services.update_profile, delete=services.delete_profile,
    create_role=Role.ADMIN, edit_role=Role.ADMIN, shared=True, writers=is_msp_admin, detail_context=_profile_detail,
    empty_hint="A profile is an ordered set of tasks (scripts, software, patches, reboot) applied to devices "
               "together. Templates are copied into profiles.",
    filters=(ListFilter("template", "Kind", "is_template", static_choices([("True", "Templates"),
                                                                            ("False", "Profiles")])),),
)

SCHEDULES = Resource(
    slug="schedules", noun="actionschedule", title="Scheduled runs",
    rows_for=schedules_for,
    columns=(Column("Name", "name", "name"), Column("Company", "company.name", "company__name"),
             Column("Policy", "policy.name", "policy__name"), Column("Runs", "get_kind_display", "kind"),
             Column("Script", "script.name"),
             Column("Profile", "profile.name"), Column("Enabled", "enabled", "enabled"),
             Column("Last run", "last_run_at", "last_run_at")),
    search_fields=("name", "company__name", "script__name", "profile__name"), default_sort="name",
    form_class=action_forms.ScheduleForm, create=services.create_schedule, update=services.update_schedule,
    delete=services.delete_schedule, parent_fields=("company", "policy"), hidden_fields=("q_schedule_id",),
    detail_context=_schedule_detail,
    empty_hint="Run a library script or a profile on a company, site or group once, every N minutes or hours, "
               "daily or weekly.",
    filters=(ListFilter("company", "Company", "company_id", company_choices),),
)

ACTIONS = Resource(
    slug="actions", noun="action", title="Action history",
    rows_for=actions_for,
    columns=(Column("Action", "title", "title"), Column("Device", "device_name", "device_label"),
             Column("Company", "company.name", "company__name"), Column("Status", "get_status_display", "status"),
             Column("Requested by", "requested_by_label", "requested_by_label"),
             Column("Requested", "queued_at", "queued_at"), Column("Finished", "finished_at", "finished_at")),
    search_fields=("title", "device_label", "requested_by_label", "company__name"), default_sort="-queued_at",
    detail_context=_action_detail, date_filter="queued_at",
    hidden_fields=("payload", "stdout", "stderr", "result", "stdout_truncated", "stderr_truncated", "after"),
    empty_hint="Actions appear here when someone runs a script, a reboot, patches or software on a device.",
    filters=(
        ListFilter("type", "Type", "action_type", static_choices(list(ActionType.choices))),
        ListFilter("status", "Status", "status", static_choices(list(ActionStatus.choices))),
        ListFilter("state", "State", "", static_choices([("open", "Not finished"), ("finished", "Finished")]),
                   apply=lambda rows, value: rows.filter(status__in=UNFINISHED) if value == "open"
                   else rows.exclude(status__in=UNFINISHED)),
        ListFilter("company", "Company", "company_id", company_choices),
        ListFilter("requester", "Requested by", "requested_by_label", _requester_choices),
        ListFilter("device", "Device", "device_id", None),
        ListFilter("batch", "Batch", "batch_id", None),
    ),
)

ACTION_RESOURCES = (SCRIPTS, SOFTWARE, PROFILES, SCHEDULES, ACTIONS)
