"""Checks that run something on the device: a library script (its exit code decides: 0 fine, a warning code a
warning, anything else — another code, a timeout, a failure — critical) and a Windows event-log check (a
generated PowerShell query for entries of a log, source, id and level in the last N minutes). The server queues
each as a signed action every N minutes on the devices the check watches; the latest finished run is what the
minute's evaluation judges. Also the self-healing default of service checks: restart the service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from monitoring.models import EVENT_LOG_NAME, SERVICE_NAME, Check, CheckKind, CheckRun
from portal.access import rows_for_system, system_actor
from portal.actions.models import FINISHED, ActionStatus
from portal.actions.requests import queue_action
from portal.actions.specs import ActionSpec, script_spec
from portal.inventory.models import Device, DeviceStatus, OsType

RUN_KINDS = {CheckKind.SCRIPT, CheckKind.EVENT_LOG}


def _spec(check: Check, device: Device) -> ActionSpec | None:
    actor = system_actor(f"check {check.name}"[:150])
    if check.kind == CheckKind.SCRIPT:
        return script_spec(actor=actor, script=check.script) if check.script.runs_on(device.os_type) else None
    if device.os_type != OsType.WINDOWS:
        return None  # the Windows event log exists on Windows only
    query = event_log_query(check)
    return script_spec(actor=actor, inline_content=query, inline_language="powershell") if query else None


def event_log_query(check: Check) -> str:
    """The PowerShell that looks for matching entries since the last run; exits 2 with the newest entry's message
    when it finds one. The names are checked again here (not only when saved): no quote ever reaches the query,
    and a name that fails gives no query at all."""
    if not EVENT_LOG_NAME.match(check.parameter or "") or (check.event_source
                                                            and not EVENT_LOG_NAME.match(check.event_source)):
        return ""
    filters = [f"LogName='{check.parameter}'", f"StartTime=(Get-Date).AddMinutes(-{int(check.interval_minutes)})"]
    if check.event_source:
        filters.append(f"ProviderName='{check.event_source}'")
    if check.event_id is not None:
        filters.append(f"Id={int(check.event_id)}")
    if check.event_level is not None:
        filters.append(f"Level={int(check.event_level)}")
    return ("$found = Get-WinEvent -FilterHashtable @{" + "; ".join(filters) + "} -MaxEvents 1 "
            "-ErrorAction SilentlyContinue\nif ($found) { Write-Output $found.Message; exit 2 }\nexit 0\n")


def queue_due_runs(check: Check, watched: set[int], *, now: Any = None) -> int:
    """Queue the check on each watched online device whose last run is older than its interval (never while the
    last one is still unfinished). Returns how many were queued."""
    now = now or timezone.now()
    latest: dict[int, CheckRun] = {}
    for run in rows_for_system(CheckRun).filter(check_rule=check, device_id__in=watched).select_related("action") \
            .order_by("device_id", "-queued_at"):
        latest.setdefault(run.device_id, run)
    queued = 0
    for device in rows_for_system(Device).filter(pk__in=watched, status=DeviceStatus.ONLINE):
        last = latest.get(device.pk)
        if last is not None and (last.queued_at > now - timedelta(minutes=check.interval_minutes)
                                 or (last.action is not None and last.action.status not in FINISHED)):
            continue
        spec = _spec(check, device)
        if spec is None:
            continue
        action = queue_action(actor=system_actor(f"check {check.name}"[:150]), device=device, spec=spec)
        rows_for_system(CheckRun).create(check_rule=check, device=device, action=action, queued_at=now)
        queued += 1
    return queued


def latest_results(check: Check, watched: set[int]) -> dict[int, tuple[Device, Any]]:
    """device id → (device, its latest finished run's action) among the watched devices."""
    found: dict[int, tuple[Device, Any]] = {}
    runs = rows_for_system(CheckRun).filter(check_rule=check, device_id__in=watched, action__status__in=FINISHED) \
        .select_related("action", "device").order_by("device_id", "-queued_at")
    for run in runs:
        found.setdefault(run.device_id, (run.device, run.action))
    return found


def verdict(check: Check, action: Any) -> tuple[bool, str] | None:
    """None when the run passed; else (critical?, what to say)."""
    last_line = next((line.strip() for line in reversed((action.stdout or "").splitlines()) if line.strip()), "")
    if action.status == ActionStatus.SUCCEEDED and action.exit_code == 0:
        return None
    if check.kind == CheckKind.EVENT_LOG:
        return True, f"found in the {check.parameter} log: {last_line}" if last_line else f"found in {check.parameter}"
    if action.status == ActionStatus.FAILED and action.exit_code in check.warning_codes():
        return False, f"exit {action.exit_code}: {last_line}".rstrip(": ")
    what = f"exit {action.exit_code}" if action.exit_code is not None else action.get_status_display().lower()
    return True, f"{what}: {last_line}".rstrip(": ")


RUN_HISTORY_DAYS = 2


def prune_check_runs(*, now: Any = None) -> int:
    """Forget which actions carried check runs after two days (the actions stay in the history); a device whose
    last run is older gets a new one when it is next online."""
    cutoff = (now or timezone.now()) - timedelta(days=RUN_HISTORY_DAYS)
    deleted, _ = rows_for_system(CheckRun).filter(queued_at__lt=cutoff).delete()
    return deleted


def restart_service(*, device: Device, service: str) -> Any:
    """Queue the restart of a service (a name the check's model accepted) on the device; None where the OS has
    no restart command of ours."""
    commands = {OsType.LINUX: ("bash", f"systemctl restart '{service}'"),
                OsType.MACOS: ("bash", f"launchctl kickstart -k 'system/{service}'"),
                OsType.WINDOWS: ("powershell", f"Restart-Service -Name '{service}' -Force")}
    if device.os_type not in commands or not SERVICE_NAME.match(service or ""):
        return None  # a name saved before names were checked never reaches a command line
    language, content = commands[device.os_type]
    actor = system_actor(f"self-healing: restart {service}"[:150])
    return queue_action(actor=actor, device=device, spec=script_spec(actor=actor, inline_content=content,
                                                                      inline_language=language))
