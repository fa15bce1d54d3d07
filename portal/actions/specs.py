"""What an action will do, checked before anything is queued: ``ActionSpec`` and its builders.

A spec is built once per request (bulk runs share it) and checked against each device's OS, so a
Bash script never lands on a Windows machine and the technician is told why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from portal.access import Actor, Role, require_role
from portal.actions.models import (
    LANGUAGE_OS,
    MAX_TIMEOUT_SECONDS,
    ActionType,
    DeploymentProfile,
    ProfileTask,
    Script,
    ScriptLanguage,
    SoftwareItem,
)
from portal.inventory.models import Device, OsType

RUN_AS_PATTERN = re.compile(r"^[A-Za-z0-9._\\-]{1,64}$")
MAX_ARGUMENTS = 100
MAX_PATCHES = 500
MAX_INLINE_CHARS = 256 * 1024
REBOOT_TIMEOUT_SECONDS = 120
PATCH_TIMEOUT_SECONDS = 2 * 3600


@dataclass(frozen=True)
class ActionSpec:
    action_type: str
    title: str
    payload: dict[str, Any]
    timeout_seconds: int
    script: Script | None = None
    # The OS families this can run on; None means any.
    allowed_os: frozenset[str] | None = None
    what: str = field(default="This action")

    def check(self, device: Device) -> None:
        """Refuse a device whose OS cannot run this, with a message that names both."""
        if self.allowed_os is not None and device.os_type not in self.allowed_os:
            names = ", ".join(sorted(OsType(o).label for o in self.allowed_os)) or "no OS"
            raise ValidationError(f"{self.what} runs on {names}; {device} runs {device.get_os_type_display()}.")


def _string_list(value: Any, *, name: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValidationError({name: "Give a list of strings."})
    if len(value) > limit:
        raise ValidationError({name: f"At most {limit} items."})
    return [item for item in value]


def _environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError({"environment": "Environment variables are names mapped to string values."})
    for name in value:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", name):
            raise ValidationError({"environment": f"{name!r} is not a valid variable name."})
    return dict(value)


def _timeout(value: int | None, default: int) -> int:
    timeout = default if value is None else value
    if not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise ValidationError({"timeout": f"The timeout is 1–{MAX_TIMEOUT_SECONDS} seconds."})
    return timeout


def script_spec(*, actor: Actor, script: Script | None = None, inline_content: str | None = None,
                inline_language: str | None = None, arguments: list[str] | None = None,
                environment: dict[str, str] | None = None, timeout: int | None = None,
                run_as: str = "") -> ActionSpec:
    """Run a library script, or (with the permission) an ad-hoc one."""
    require_role(actor, Role.OPERATOR)
    if (script is None) == (inline_content is None):
        raise ValidationError("Choose a library script or write an inline one, not both.")
    if run_as and not RUN_AS_PATTERN.match(run_as):
        raise ValidationError({"run_as": "A user name: letters, digits, '.', '_', '-' or DOMAIN\\user."})
    extra_environment = _environment(environment)
    if script is not None:
        language, content, title = script.language, script.content, f"Run {script.name}"
        default_arguments, base_environment, default_timeout = script.arguments, script.environment, \
            script.default_timeout
        allowed = frozenset({script.target_os}) if script.target_os else frozenset(LANGUAGE_OS[script.language])
        what = f"The script {script.name!r} ({script.get_language_display()})"
    else:
        if not actor.may_run_inline_scripts:
            raise PermissionDenied("Ad-hoc scripts need the 'run inline scripts' permission; ask an admin, "
                                   "or run a library script.")
        if inline_language not in ScriptLanguage.values:
            raise ValidationError({"language": f"Choose one of {', '.join(ScriptLanguage.values)}."})
        if not inline_content or not inline_content.strip():
            raise ValidationError({"content": "The script is empty."})
        if len(inline_content) > MAX_INLINE_CHARS:
            raise ValidationError({"content": f"Scripts are limited to {MAX_INLINE_CHARS} characters."})
        language, content = inline_language, inline_content
        title = f"Run inline {ScriptLanguage(language).label} script"
        default_arguments, base_environment, default_timeout = [], {}, 300
        allowed = frozenset(LANGUAGE_OS[ScriptLanguage(language)])
        what = f"A {ScriptLanguage(language).label} script"
    chosen_arguments = _string_list(arguments, name="arguments", limit=MAX_ARGUMENTS) if arguments is not None \
        else list(default_arguments)
    seconds = _timeout(timeout, default_timeout)
    payload = {"language": language, "content": content, "arguments": chosen_arguments,
               "environment": {**base_environment, **extra_environment}, "timeout": seconds, "run_as": run_as}
    return ActionSpec(action_type=ActionType.RUN_SCRIPT, title=title, payload=payload, timeout_seconds=seconds,
                      script=script, allowed_os=allowed, what=what)


def reboot_spec(*, actor: Actor, delay_seconds: int = 0, message: str = "") -> ActionSpec:
    """Reboot now or after a delay; logged-in users are warned with ``message`` where the OS allows."""
    require_role(actor, Role.OPERATOR)
    if not isinstance(delay_seconds, int) or not 0 <= delay_seconds <= 86400:
        raise ValidationError({"delay_seconds": "The delay is 0–86400 seconds."})
    if len(message) > 500:
        raise ValidationError({"message": "Keep the warning under 500 characters."})
    title = "Reboot" if not delay_seconds else f"Reboot in {delay_seconds // 60 or 1} min"
    return ActionSpec(action_type=ActionType.REBOOT, title=title,
                      payload={"delay_seconds": delay_seconds,
                               "message": message or "This computer will restart for maintenance."},
                      timeout_seconds=REBOOT_TIMEOUT_SECONDS,
                      allowed_os=frozenset({OsType.WINDOWS, OsType.LINUX, OsType.MACOS}), what="Reboot")


def patches_spec(*, actor: Actor, patch_ids: list[str], reboot_after: bool = False) -> ActionSpec:
    """Install the listed patches (package names on Linux, KB ids on Windows, labels on macOS)."""
    require_role(actor, Role.OPERATOR)
    cleaned = list(dict.fromkeys(p.strip() for p in _string_list(patch_ids, name="patch_ids", limit=MAX_PATCHES)
                                 if p.strip()))
    if not cleaned:
        raise ValidationError({"patch_ids": "List at least one patch id."})
    if any(len(p) > 255 or p.startswith("-") for p in cleaned):
        raise ValidationError({"patch_ids": "Patch ids are at most 255 characters and do not start with '-'."})
    return ActionSpec(action_type=ActionType.INSTALL_PATCHES,
                      title=f"Install {len(cleaned)} patch{'es' if len(cleaned) != 1 else ''}",
                      payload={"patch_ids": cleaned, "reboot_after": bool(reboot_after)},
                      timeout_seconds=PATCH_TIMEOUT_SECONDS,
                      allowed_os=frozenset({OsType.WINDOWS, OsType.LINUX, OsType.MACOS}), what="Patching")


def software_spec(*, actor: Actor, software: SoftwareItem) -> ActionSpec:
    require_role(actor, Role.OPERATOR)
    packages = software.packages()
    allowed = frozenset(os for os in (OsType.WINDOWS, OsType.LINUX, OsType.MACOS) if software.runs_on(os))
    return ActionSpec(action_type=ActionType.INSTALL_SOFTWARE, title=f"Install {software.name}",
                      payload={"name": software.name, "packages": packages}, timeout_seconds=PATCH_TIMEOUT_SECONDS,
                      allowed_os=allowed, what=f"{software.name} (catalogue)")


def task_spec(*, actor: Actor, task: ProfileTask) -> ActionSpec:
    """The spec of one profile task; its options hold arguments, patch ids or a reboot delay."""
    options = task.options or {}
    if task.action_type == ActionType.RUN_SCRIPT:
        spec = script_spec(actor=actor, script=task.script, arguments=options.get("arguments"))
    elif task.action_type == ActionType.REBOOT:
        spec = reboot_spec(actor=actor, delay_seconds=int(options.get("delay_seconds", 0)),
                           message=str(options.get("message", "")))
    elif task.action_type == ActionType.INSTALL_PATCHES:
        spec = patches_spec(actor=actor, patch_ids=options.get("patch_ids") or [],
                            reboot_after=bool(options.get("reboot_after")))
    else:
        spec = software_spec(actor=actor, software=task.software)
    return ActionSpec(action_type=spec.action_type, title=f"{task.name}", payload=spec.payload,
                      timeout_seconds=spec.timeout_seconds, script=spec.script, allowed_os=spec.allowed_os,
                      what=f"Task {task.name!r}")


def profile_specs(*, actor: Actor, profile: DeploymentProfile) -> list[tuple[ProfileTask, ActionSpec]]:
    if profile.is_template:
        raise ValidationError("Templates are not applied; instantiate it into a profile first.")
    tasks = list(profile.tasks.select_related("script", "software"))
    if not tasks:
        raise ValidationError("This profile has no tasks yet.")
    return [(task, task_spec(actor=actor, task=task)) for task in tasks]
