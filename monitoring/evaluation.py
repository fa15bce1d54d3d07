"""Checks → alerts, once a minute: count failures in a row per object, open one alert per check and
object after N, keep it up to date, resolve it when the object recovers, never open one inside a
maintenance window; then hand new high and critical alerts to the notifications.

A check watches the objects its policy reaches (``monitoring.policy_checks``); an alert belongs to the company
of the object it is about."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from monitoring.alert_routing import deliver_due, queue_event, queue_reminders
from monitoring.models import (
    Alert,
    AlertNotification,
    AlertStatus,
    Camera,
    Check,
    CheckKind,
    CheckState,
    MaintenanceWindow,
    NetworkDevice,
    NetworkInterface,
    NotificationStatus,
    Severity,
)
from monitoring.notifications import notify
from monitoring.policy_checks import watched_objects
from monitoring.script_checks import RUN_KINDS, latest_results, queue_due_runs, restart_service, verdict
from portal.access import rows_for_system
from portal.events.publish import publish
from portal.inventory.models import Device, DeviceInventory, DeviceService, DeviceStatus, PendingPatch
from portal.patching.rollout import devices_in_patch_window

logger = logging.getLogger(__name__)
NOTIFY_SEVERITIES = {Severity.HIGH, Severity.CRITICAL}


@dataclass(frozen=True)
class Finding:
    """One object failing a check: its key and label, its site (for maintenance windows), the level."""

    object_key: str
    label: str
    site_id: int | None
    critical: bool
    value: float | None
    message: str
    company_id: int


def _level(value: float | None, check: Check, *, lower_is_worse: bool = False) -> bool | None:
    """None when fine; True when at or past the critical threshold; False at or past the warning one."""
    if value is None:
        return None

    def past(threshold: float | None) -> bool:
        return threshold is not None and (value <= threshold if lower_is_worse else value >= threshold)

    if past(check.critical_threshold):
        return True
    if past(check.warning_threshold):
        return False
    return None


def _scoped(rows: QuerySet, check: Check, column: str) -> QuerySet:
    """A company's policy's check reads that company's rows only; an MSP-wide one, every company's."""
    return rows.filter(**{column: check.company_id}) if check.company_id is not None else rows


def _findings(check: Check, watched: set[int]) -> Iterable[Finding]:
    """The objects of ``watched`` (the ids of the devices, network devices or cameras the check watches)
    failing the check."""
    kind = check.kind
    devices = _scoped(rows_for_system(Device), check, "company_id")
    if kind == CheckKind.AGENT_OFFLINE:
        now = timezone.now()
        for device in devices.filter(status=DeviceStatus.OFFLINE).exclude(last_seen__isnull=True):
            if device.pk not in watched:
                continue
            minutes = (now - device.last_seen).total_seconds() / 60
            level = _level(minutes, check)
            if level is not None:
                yield Finding(f"device:{device.pk}", str(device), device.site_id, level, round(minutes, 1),
                              f"{device} has been offline for {minutes:.0f} minutes", device.company_id)
    elif kind in (CheckKind.AGENT_CPU, CheckKind.AGENT_MEMORY):
        name = "cpu_percent" if kind == CheckKind.AGENT_CPU else "memory_percent"
        for device in devices.filter(status=DeviceStatus.ONLINE, **{f"{name}__isnull": False}):
            if device.pk not in watched:
                continue
            value = getattr(device, name)
            level = _level(value, check)
            if level is not None:
                what = "CPU" if kind == CheckKind.AGENT_CPU else "Memory"
                yield Finding(f"device:{device.pk}", str(device), device.site_id, level, value,
                              f"{what} on {device} at {value:.0f} %", device.company_id)
    elif kind == CheckKind.AGENT_DISK_FREE:
        inventories = _scoped(rows_for_system(DeviceInventory), check, "device__company_id").select_related("device")
        for inventory in inventories:
            if inventory.device_id not in watched:
                continue
            for disk in inventory.disks or []:
                size, used = disk.get("size") or 0, disk.get("used") or 0
                if size <= 0:
                    continue
                free = 100 * (size - used) / size
                level = _level(free, check, lower_is_worse=True)
                if level is not None:
                    device = inventory.device
                    yield Finding(f"disk:{device.pk}:{disk.get('mount', '')}"[:64], f"{device} {disk.get('mount')}",
                                  device.site_id, level, round(free, 1),
                                  f"{device}: {disk.get('mount')} has {free:.0f} % free", device.company_id)
    elif kind == CheckKind.SERVICE_NOT_RUNNING:
        services = _scoped(rows_for_system(DeviceService), check, "device__company_id")
        for service in services.filter(name=check.parameter).exclude(status="running").select_related("device"):
            if service.device_id not in watched:
                continue
            yield Finding(f"device:{service.device_id}", str(service.device), service.device.site_id, True, None,
                          f"{service.name} is {service.status or 'not running'} on {service.device}",
                          service.device.company_id)
    elif kind == CheckKind.CRITICAL_PATCHES:
        counts: dict[int, int] = {}
        patches = _scoped(rows_for_system(PendingPatch), check, "device__company_id")
        for device_id in patches.filter(update__severity="critical").values_list("device_id", flat=True):
            if device_id in watched:
                counts[device_id] = counts.get(device_id, 0) + 1
        for device in devices.filter(pk__in=counts):
            level = _level(counts[device.pk], check)
            if level is not None:
                yield Finding(f"device:{device.pk}", str(device), device.site_id, level, counts[device.pk],
                              f"{counts[device.pk]} critical patch(es) pending on {device}", device.company_id)
    elif kind in (CheckKind.NETWORK_UNREACHABLE, CheckKind.NETWORK_CPU, CheckKind.NETWORK_STORAGE):
        for gear in _scoped(rows_for_system(NetworkDevice), check, "company_id"):
            if gear.pk not in watched:
                continue
            key = f"network:{gear.pk}"
            if kind == CheckKind.NETWORK_UNREACHABLE:
                if gear.status in ("timeout", "unreachable", "error"):
                    yield Finding(key, str(gear), gear.site_id, True, None,
                                  f"{gear} ({gear.host}) does not answer SNMP: {gear.status_detail}"[:500],
                                  gear.company_id)
            elif kind == CheckKind.NETWORK_CPU:
                level = _level(gear.cpu_percent, check) if gear.status == "up" else None
                if level is not None:
                    yield Finding(key, str(gear), gear.site_id, level, gear.cpu_percent,
                                  f"CPU on {gear} at {gear.cpu_percent:.0f} %", gear.company_id)
            else:
                fullest = max((s.get("used_percent") or 0 for s in gear.storage or []), default=None)
                level = _level(fullest, check) if gear.status == "up" else None
                if level is not None:
                    yield Finding(key, str(gear), gear.site_id, level, fullest,
                                  f"Storage on {gear} {fullest:.0f} % used", gear.company_id)
    elif kind == CheckKind.INTERFACE_DOWN:
        interfaces = _scoped(rows_for_system(NetworkInterface), check, "device__company_id").filter(admin_status="up")
        for interface in interfaces.exclude(oper_status="up").select_related("device"):
            if interface.device_id not in watched:
                continue
            yield Finding(f"interface:{interface.pk}", f"{interface.device} {interface}", interface.device.site_id,
                          True, None, f"{interface} on {interface.device} is {interface.oper_status or 'down'}",
                          interface.device.company_id)
    elif kind in RUN_KINDS:
        queue_due_runs(check, watched)
        for device, action in latest_results(check, watched).values():
            failed = verdict(check, action)
            if failed is not None:
                yield Finding(f"device:{device.pk}", str(device), device.site_id, failed[0], action.exit_code,
                              f"{check.name} on {device}: {failed[1]}"[:500], device.company_id)
    elif kind in (CheckKind.CAMERA_DOWN, CheckKind.CAMERA_AUTH_FAILED):
        wanted = "down" if kind == CheckKind.CAMERA_DOWN else "auth_failed"
        for camera in _scoped(rows_for_system(Camera), check, "company_id").filter(status=wanted):
            if camera.pk not in watched:
                continue
            yield Finding(f"camera:{camera.pk}", str(camera), camera.site_id, True, None,
                          f"Camera {camera} is {camera.get_status_display().lower()}: {camera.status_detail}"[:500],
                          camera.company_id)


def _in_maintenance(finding: Finding, windows: list[MaintenanceWindow], patching: set[str]) -> bool:
    """In a maintenance window of its company, site or own, or (a device) in its patch window."""
    if finding.object_key in patching:
        return True
    for window in windows:
        if window.company_id != finding.company_id:
            continue
        if window.object_key and window.object_key != finding.object_key:
            continue
        if window.site_id and window.site_id != finding.site_id:
            continue
        return True
    return False


@transaction.atomic
def evaluate_check(*, check: Check, watched: set[int] | None = None) -> list[Alert]:
    """Evaluate one check on the objects it watches (computed from the policies when not given); returns the
    alerts it opened."""
    now = timezone.now()
    if watched is None:
        watched = watched_objects().get(check.pk, set())
    failing = {finding.object_key: finding for finding in _findings(check, watched)}
    states = {state.object_key: state
              for state in rows_for_system(CheckState).select_for_update().filter(check_rule=check)}
    windows = list(rows_for_system(MaintenanceWindow).filter(starts_at__lte=now, ends_at__gt=now))
    patching = {f"device:{device_id}" for device_id in devices_in_patch_window(now=now)}
    opened = []
    for key, finding in failing.items():
        state = states.get(key) or CheckState(check_rule=check, object_key=key)
        state.consecutive_failures += 1
        state.save()
        if state.consecutive_failures < check.failures_before_alert:
            continue
        severity = check.critical_severity if finding.critical else check.warning_severity
        current = rows_for_system(Alert).filter(check_rule=check, object_key=key, resolved_at__isnull=True).first()
        if current is not None:  # deduplicated: the one unresolved alert is kept up to date
            changed = current.severity != severity or current.message != finding.message
            current.severity, current.message, current.value = severity, finding.message, finding.value
            current.save(update_fields=["severity", "message", "value", "last_seen_at"])
            if changed:
                publish("alert.updated", company_id=current.company_id, id=current.pk)
            continue
        if _in_maintenance(finding, windows, patching):
            continue
        alert = rows_for_system(Alert).create(company_id=finding.company_id, check_rule=check, object_key=key,
                                              object_label=finding.label[:255], kind=check.kind, severity=severity,
                                              message=finding.message[:500], value=finding.value)
        publish("alert.raised", company_id=finding.company_id, id=alert.pk, severity=severity)
        opened.append(alert)
    recovered = [key for key in states if key not in failing]
    rows_for_system(CheckState).filter(check_rule=check, object_key__in=recovered).delete()
    unresolved = rows_for_system(Alert).filter(check_rule=check, resolved_at__isnull=True)
    resolved = list(unresolved.exclude(object_key__in=failing).select_related("check_rule"))
    for alert in resolved:
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
        alert.save(update_fields=["status", "resolved_at", "last_seen_at"])
        publish("alert.updated", company_id=alert.company_id, id=alert.pk)
    if check.kind == CheckKind.SERVICE_NOT_RUNNING and check.restart_service:
        _heal_services(check, opened)
    queue_event(alerts=opened, event=AlertNotification.Event.OPENED)
    queue_event(alerts=resolved, event=AlertNotification.Event.RESOLVED)
    return opened


def _heal_services(check: Check, opened: list[Alert]) -> None:
    """The service checks' self-healing default: restart the service, on the alert's timeline."""
    for alert in opened:
        device = rows_for_system(Device).filter(pk=int(alert.object_key.partition(":")[2])).first()
        action = restart_service(device=device, service=check.parameter) if device is not None else None
        rows_for_system(AlertNotification).create(
            alert=alert, route=None, route_label=f"Self-healing: restart {check.parameter}"[:200],
            event=AlertNotification.Event.OPENED, attempts=1, action=action,
            status=NotificationStatus.SENT if action is not None else NotificationStatus.FAILED,
            sent_at=timezone.now() if action is not None else None,
            last_error="" if action is not None else "No restart command for this device's OS or this service name.")


def evaluate_all_checks() -> dict[str, int]:
    """The minute's evaluation of every enabled check on what its policies reach; then notify about new
    high/critical alerts."""
    opened: list[Alert] = []
    watched = watched_objects()
    for check in rows_for_system(Check).filter(enabled=True, policy__enabled=True).select_related("company"):
        try:
            opened += evaluate_check(check=check, watched=watched.get(check.pk, set()))
        except Exception:  # one broken check must not stop the others
            logger.exception("check %s failed to evaluate", check.pk)
    notify(alerts=[alert for alert in opened if alert.severity in NOTIFY_SEVERITIES])
    queue_reminders()
    delivered = deliver_due()
    return {"opened": len(opened), **delivered}
