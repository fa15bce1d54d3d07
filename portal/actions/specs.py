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
from portal.actions.parameters import BATCH_METACHARACTERS, ad_hoc_environment, fill
from portal.inventory.models import Device, OsType

RUN_AS_PATTERN = re.compile(r"[A-Za-z0-9._\\-]{1,64}")
MAX_ARGUMENTS = 100
MAX_PATCHES = 500
MAX_INLINE_CHARS = 256 * 1024
REBOOT_TIMEOUT_SECONDS = 120
PATCH_TIMEOUT_SECONDS = 2 * 3600
SCAN_TIMEOUT_SECONDS = 30 * 60


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


def _timeout(value: int | None, default: int) -> int:
    timeout = default if value is None else value
    if not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise ValidationError({"timeout": f"The timeout is 1–{MAX_TIMEOUT_SECONDS} seconds."})
    return timeout


def script_spec(*, actor: Actor, script: Script | None = None, inline_content: str | None = None,
                inline_language: str | None = None, parameters: dict[str, Any] | None = None,
                arguments: list[str] | None = None, environment: dict[str, str] | None = None,
                timeout: int | None = None, run_as: str = "") -> ActionSpec:
    """Run a library script with values for its declared parameters, or (with the permission) an ad-hoc one.

    Free ``arguments`` and ``environment`` are the inline-script permission's too: with them anyone could
    make any library script run code of their choosing (``BASH_ENV``, ``LD_PRELOAD``, ``&`` in a batch line)."""
    require_role(actor, Role.OPERATOR)
    if (script is None) == (inline_content is None):
        raise ValidationError("Choose a library script or write an inline one, not both.")
    free = arguments is not None or bool(environment)
    if (script is None or free) and not actor.may_run_inline_scripts:
        raise PermissionDenied(
            "Ad-hoc scripts need the 'run inline scripts' permission; ask an admin, or run a library script."
            if script is None else
            "Free arguments and environment variables need the 'run inline scripts' permission; fill the "
            "script's declared parameters instead.")
    if script is None:
        if inline_language not in ScriptLanguage.values:
            raise ValidationError({"language": f"Choose one of {', '.join(ScriptLanguage.values)}."})
        if not inline_content or not inline_content.strip():
            raise ValidationError({"content": "The script is empty."})
        if len(inline_content) > MAX_INLINE_CHARS:
            raise ValidationError({"content": f"Scripts are limited to {MAX_INLINE_CHARS} characters."})
        if parameters:
            raise ValidationError({"parameters": "An ad-hoc script declares no parameters: use arguments or "
                                                 "environment variables."})
        language = ScriptLanguage(inline_language)
        return _script_run_spec(
            language=language, content=inline_content, title=f"Run inline {language.label} script",
            arguments=_string_list(arguments, name="arguments", limit=MAX_ARGUMENTS),
            environment=ad_hoc_environment(environment), parameters={}, timeout=_timeout(timeout, 300),
            run_as=run_as, script=None, allowed=frozenset(LANGUAGE_OS[language]), what=f"A {language.label} script")
    return library_script_spec(script=script, parameters=parameters, timeout=timeout, run_as=run_as,
                               free_arguments=None if arguments is None else _string_list(
                                   arguments, name="arguments", limit=MAX_ARGUMENTS),
                               free_environment=ad_hoc_environment(environment))


def library_script_spec(*, script: Script, parameters: dict[str, Any] | None, timeout: int | None = None,
                        run_as: str = "", free_arguments: list[str] | None = None,
                        free_environment: dict[str, str] | None = None) -> ActionSpec:
    """A library script run: the script's own arguments and environment, then its declared parameters.

    Callers that may set free arguments or environment (the inline-script permission, or an MSP admin's
    profile task) pass them here; everyone else fills declared parameters only."""
    filled = fill(script.declared(), parameters, language=script.language)
    base_arguments = list(script.arguments) if free_arguments is None else free_arguments
    return _script_run_spec(
        language=script.language, content=script.content, title=f"Run {script.name}",
        arguments=[*base_arguments, *filled.arguments],
        environment={**script.environment, **(free_environment or {}), **filled.environment},
        parameters=filled.values, timeout=_timeout(timeout, script.default_timeout), run_as=run_as, script=script,
        allowed=frozenset({script.target_os}) if script.target_os else frozenset(LANGUAGE_OS[script.language]),
        what=f"The script {script.name!r} ({script.get_language_display()})")


def _script_run_spec(*, language: str, content: str, title: str, arguments: list[str], environment: dict[str, str],
                     parameters: dict[str, Any], timeout: int, run_as: str, script: Script | None,
                     allowed: frozenset[str], what: str) -> ActionSpec:
    if run_as and not RUN_AS_PATTERN.fullmatch(run_as):
        raise ValidationError({"run_as": "A user name: letters, digits, '.', '_', '-' or DOMAIN\\user."})
    if language == "batch" and any(BATCH_METACHARACTERS & set(argument) for argument in arguments):
        raise ValidationError({"arguments": "Batch script arguments may not contain & | < > ^ % ! \" or line "
                                            "breaks: cmd.exe would run them as commands."})
    if any("\x00" in argument for argument in arguments):
        raise ValidationError({"arguments": "Arguments may not contain a NUL character."})
    payload = {"language": language, "content": content, "arguments": arguments, "environment": environment,
               "parameters": parameters, "timeout": timeout, "run_as": run_as}
    return ActionSpec(action_type=ActionType.RUN_SCRIPT, title=title, payload=payload, timeout_seconds=timeout,
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


def updates_spec(*, updates: list[dict[str, Any]], reboot: dict[str, Any], title: str) -> ActionSpec:
    """Install catalogue updates (each with its source, installer id and catalogue id) and restart as ``reboot``
    says: built by the patch services from a device's own pending updates, never from a caller's text."""
    if not updates or len(updates) > MAX_PATCHES:
        raise ValidationError({"updates": f"Install 1 to {MAX_PATCHES} updates at a time."})
    if any(str(item.get("id", "")).startswith("-") for item in updates):
        raise ValidationError({"updates": "An update id does not start with '-'."})
    return ActionSpec(action_type=ActionType.INSTALL_PATCHES, title=title[:255],
                      payload={"updates": updates, "reboot": reboot}, timeout_seconds=PATCH_TIMEOUT_SECONDS,
                      allowed_os=frozenset({OsType.WINDOWS, OsType.LINUX, OsType.MACOS}), what="Patching")


def scan_spec(*, actor: Actor) -> ActionSpec:
    """Ask the device's package sources for news and report what is available now."""
    require_role(actor, Role.OPERATOR)
    return ActionSpec(action_type=ActionType.SCAN_UPDATES, title="Scan for updates", payload={"refresh": True},
                      timeout_seconds=SCAN_TIMEOUT_SECONDS,
                      allowed_os=frozenset({OsType.WINDOWS, OsType.LINUX, OsType.MACOS}), what="Scanning for updates")


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
        require_role(actor, Role.OPERATOR)
        # The task's arguments were written by an MSP admin into the library, not by whoever applies it.
        arguments = options.get("arguments")
        spec = library_script_spec(script=task.script, parameters=options.get("parameters"),
                                   free_arguments=None if arguments is None else _string_list(
                                       arguments, name="arguments", limit=MAX_ARGUMENTS))
    elif task.action_type == ActionType.REBOOT:
        spec = reboot_spec(actor=actor, delay_seconds=int(options.get("delay_seconds", 0)),
                           message=str(options.get("message", "")))
    elif task.action_type == ActionType.INSTALL_PATCHES:
        spec = patches_spec(actor=actor, patch_ids=options.get("patch_ids") or [],
                            reboot_after=bool(options.get("reboot_after")))
    elif task.action_type == ActionType.SCAN_UPDATES:
        spec = scan_spec(actor=actor)
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
