"""Writes to the shared library: scripts (with version history), the software catalogue, deployment
profiles and their tasks, and instantiating templates.

The library is MSP-wide: what it holds runs as root on every company's devices (schedules and profiles
of all companies use it), so only administrators who see every company may change it, and nothing in
use may be deleted from under the schedules and profiles that use it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from portal.access import Actor, require_msp_admin
from portal.actions.models import ActionSchedule, DeploymentProfile, ProfileTask, Script, ScriptVersion, SoftwareItem
from portal.custom_fields.models import CustomField, CustomFieldTarget
from portal.tags.models import Tag
from portal.writes import delete_row, save_changed_fields, save_new

SCRIPT_FIELDS = ("name", "description", "language", "content", "default_timeout", "arguments", "environment",
                 "parameters", "target_os", "sets_field", "sets_tags")
SOFTWARE_FIELDS = ("name", "description", "winget_id", "choco_id", "apt_name", "dnf_name", "brew_name")
PROFILE_FIELDS = ("name", "description", "target_os", "is_template")
MAX_PROFILE_TASKS = 100  # the GraphQL list of a profile's tasks is bounded by this


def _require_library_admin(actor: Actor) -> None:
    require_msp_admin(actor, what="The script library, the software catalogue and deployment profiles")


def _refuse_if_used(what: str, *, schedules: Any = (), tasks: Any = ()) -> None:
    """Refuse to delete ``what`` while schedules or profile tasks use it, naming where."""
    places = [f"schedule “{s.name}” ({s.company.name})" for s in schedules]
    places += [f"profile “{t.profile.name}” (task “{t.name}”)" for t in tasks]
    if places:
        shown = ", ".join(places[:10]) + (f" and {len(places) - 10} more" if len(places) > 10 else "")
        raise ValidationError(f"{what} is in use by {shown}: remove it there first.")


def _check_sets_field(name: str | None) -> None:
    if name and not CustomField.objects.filter(target=CustomFieldTarget.DEVICE, name=name).exists():
        raise ValidationError({"sets_field": f"No device custom field is named “{name[:50]}”."})


def _checked_tags(tag_ids: list[Any] | None) -> list[int]:
    """The ids of existing tags, in order, once each."""
    wanted = list(dict.fromkeys(tag_ids or []))
    if not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in wanted) or \
            Tag.objects.filter(pk__in=wanted).count() != len(wanted):
        raise ValidationError({"sets_tags": "Name existing tags (by id)."})
    return sorted(wanted)


def _keep_version(actor: Actor, script: Script, changed: list[str]) -> None:
    ScriptVersion.objects.create(script=script, number=script.version, name=script.name, language=script.language,
                                 content=script.content, arguments=script.arguments, environment=script.environment,
                                 parameters=script.parameters, sets_field=script.sets_field,
                                 sets_tags=script.sets_tags, changed_fields=changed,
                                 changed_by_id=actor.user_id,
                                 changed_by_label=actor.label[:150])


@transaction.atomic
def create_script(*, actor: Actor, name: str, content: str, language: str, description: str = "",
                  default_timeout: int = 300, arguments: list[str] | None = None,
                  environment: dict[str, str] | None = None, parameters: list[dict[str, Any]] | None = None,
                  target_os: str = "", sets_field: str = "", sets_tags: list[int] | None = None) -> Script:
    _require_library_admin(actor)
    _check_sets_field(sets_field)
    sets_tags = _checked_tags(sets_tags)
    script = save_new(actor=actor, instance=Script(
        name=name, content=content, language=language, description=description, default_timeout=default_timeout,
        arguments=arguments or [], environment=environment or {}, parameters=parameters or [],
        target_os=target_os or "", sets_field=sets_field or "", sets_tags=sets_tags))
    _keep_version(actor, script, list(SCRIPT_FIELDS))
    return script


@transaction.atomic
def update_script(*, actor: Actor, script: Script, **changes: Any) -> Script:
    """Save changes; each saved change becomes a new version (who, when, which fields, the content)."""
    _require_library_admin(actor)
    _check_sets_field(changes.get("sets_field", ""))
    if "sets_tags" in changes:
        changes["sets_tags"] = _checked_tags(changes["sets_tags"])
    changed = save_changed_fields(actor=actor, instance=script, changes=changes, editable=SCRIPT_FIELDS)
    if changed:
        Script.objects.filter(pk=script.pk).update(version=script.version + 1)
        script.version += 1
        _keep_version(actor, script, sorted(changed))
    return script


@transaction.atomic
def delete_script(*, actor: Actor, script: Script) -> None:
    """Delete a library script that nothing uses; past actions keep their own copy of what ran, and its
    versions stay in the history."""
    _require_library_admin(actor)
    _refuse_if_used(f"The script “{script.name}”",
                    schedules=ActionSchedule.objects.filter(script=script).select_related("company"),
                    tasks=ProfileTask.objects.filter(script=script).select_related("profile"))
    delete_row(actor=actor, instance=script)


@transaction.atomic
def create_software_item(*, actor: Actor, name: str, **fields: Any) -> SoftwareItem:
    _require_library_admin(actor)
    item = SoftwareItem(name=name, **{k: v for k, v in fields.items() if k in SOFTWARE_FIELDS})
    if not item.packages():
        raise ValidationError("Give the package id for at least one package manager.")
    return save_new(actor=actor, instance=item)


@transaction.atomic
def update_software_item(*, actor: Actor, softwareitem: SoftwareItem, **changes: Any) -> SoftwareItem:
    _require_library_admin(actor)
    save_changed_fields(actor=actor, instance=softwareitem, changes=changes, editable=SOFTWARE_FIELDS)
    if not softwareitem.packages():
        raise ValidationError("Give the package id for at least one package manager.")
    return softwareitem


@transaction.atomic
def delete_software_item(*, actor: Actor, softwareitem: SoftwareItem) -> None:
    _require_library_admin(actor)
    _refuse_if_used(f"The catalogue item “{softwareitem.name}”",
                    tasks=ProfileTask.objects.filter(software=softwareitem).select_related("profile"))
    delete_row(actor=actor, instance=softwareitem)


@transaction.atomic
def create_profile(*, actor: Actor, name: str, description: str = "", target_os: str = "",
                   is_template: bool = False) -> DeploymentProfile:
    _require_library_admin(actor)
    return save_new(actor=actor, instance=DeploymentProfile(name=name, description=description,
                                                            target_os=target_os or "", is_template=is_template))


@transaction.atomic
def update_profile(*, actor: Actor, deploymentprofile: DeploymentProfile, **changes: Any) -> DeploymentProfile:
    _require_library_admin(actor)
    save_changed_fields(actor=actor, instance=deploymentprofile, changes=changes, editable=PROFILE_FIELDS)
    return deploymentprofile


@transaction.atomic
def delete_profile(*, actor: Actor, deploymentprofile: DeploymentProfile) -> None:
    _require_library_admin(actor)
    _refuse_if_used(f"The profile “{deploymentprofile.name}”",
                    schedules=ActionSchedule.objects.filter(profile=deploymentprofile).select_related("company"))
    delete_row(actor=actor, instance=deploymentprofile)


@transaction.atomic
def add_profile_task(*, actor: Actor, profile: DeploymentProfile, name: str, action_type: str,
                     order_index: int | None = None, script: Script | None = None,
                     software: SoftwareItem | None = None, options: dict[str, Any] | None = None,
                     continue_on_error: bool = False) -> ProfileTask:
    """Add a task; without an order index it goes last."""
    _require_library_admin(actor)
    if profile.tasks.count() >= MAX_PROFILE_TASKS:
        raise ValidationError(f"A profile holds at most {MAX_PROFILE_TASKS} tasks; split it into two.")
    if order_index is None:
        last = profile.tasks.order_by("-order_index").values_list("order_index", flat=True).first()
        order_index = 0 if last is None else last + 1
    if profile.tasks.filter(order_index=order_index).exists():
        raise ValidationError({"order_index": f"Another task of this profile is number {order_index}."})
    return save_new(actor=actor, instance=ProfileTask(
        profile=profile, name=name, action_type=action_type, order_index=order_index, script=script,
        software=software, options=options or {}, continue_on_error=continue_on_error))


@transaction.atomic
def delete_profile_task(*, actor: Actor, profiletask: ProfileTask) -> None:
    _require_library_admin(actor)
    delete_row(actor=actor, instance=profiletask)


@transaction.atomic
def instantiate_template(*, actor: Actor, template: DeploymentProfile, name: str,
                         description: str | None = None) -> DeploymentProfile:
    """Copy a template (and its tasks) into a new, editable profile."""
    _require_library_admin(actor)
    if not template.is_template:
        raise ValidationError("Only templates can be instantiated; this is a profile.")
    profile = save_new(actor=actor, instance=DeploymentProfile(
        name=name, description=template.description if description is None else description,
        target_os=template.target_os, is_template=False))
    ProfileTask.objects.bulk_create([
        ProfileTask(profile=profile, name=task.name, order_index=task.order_index, action_type=task.action_type,
                    script=task.script, software=task.software, options=task.options,
                    continue_on_error=task.continue_on_error)
        for task in template.tasks.all()])
    return profile
