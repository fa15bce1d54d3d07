"""Checks → alerts: evaluate every enabled check once a minute, count failures in a row per object,
open one alert per check and object after N, resolve it when the object recovers, never open one
inside a maintenance window, and notify at once by email and Slack for high and critical alerts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from monitoring.models import (
    Alert,
    AlertStatus,
    Camera,
    Check,
    CheckKind,
    CheckState,
    MaintenanceWindow,
    NetworkDevice,
    NetworkInterface,
    Severity,
)
from portal.access import Actor, Role, ensure_visible, require_role, rows_for_system
from portal.audit.services import record
from portal.events.publish import publish
from portal.inventory.models import Device, DeviceInventory, DeviceService, DeviceStatus, PendingPatch
from portal.targets import TargetUrl, parse_url
from portal.tenancy.models import Company
from portal.writes import delete_row, save_changes, save_new

logger = logging.getLogger(__name__)
NOTIFY_SEVERITIES = {Severity.HIGH, Severity.CRITICAL}

# Sensible defaults every company gets (a user can change or disable them).
DEFAULT_CHECKS: tuple[dict[str, Any], ...] = (
    {"name": "Agent offline", "kind": CheckKind.AGENT_OFFLINE, "warning_threshold": 10, "critical_threshold": 60,
     "failures_before_alert": 1, "warning_severity": Severity.MEDIUM, "critical_severity": Severity.HIGH},
    {"name": "CPU high", "kind": CheckKind.AGENT_CPU, "warning_threshold": 85, "critical_threshold": 95,
     "failures_before_alert": 5},
    {"name": "Memory high", "kind": CheckKind.AGENT_MEMORY, "warning_threshold": 90, "critical_threshold": 97,
     "failures_before_alert": 5},
    {"name": "Disk space low", "kind": CheckKind.AGENT_DISK_FREE, "warning_threshold": 15, "critical_threshold": 5,
     "failures_before_alert": 1},
    {"name": "Critical patches pending", "kind": CheckKind.CRITICAL_PATCHES, "warning_threshold": 1,
     "failures_before_alert": 1, "warning_severity": Severity.LOW},
    {"name": "Network device unreachable", "kind": CheckKind.NETWORK_UNREACHABLE, "failures_before_alert": 2,
     "critical_severity": Severity.HIGH},
    {"name": "Interface down", "kind": CheckKind.INTERFACE_DOWN, "failures_before_alert": 2,
     "critical_severity": Severity.MEDIUM},
    {"name": "Network CPU high", "kind": CheckKind.NETWORK_CPU, "warning_threshold": 80, "critical_threshold": 95,
     "failures_before_alert": 3},
    {"name": "Network storage full", "kind": CheckKind.NETWORK_STORAGE, "warning_threshold": 90,
     "critical_threshold": 98, "failures_before_alert": 1},
    {"name": "Camera down", "kind": CheckKind.CAMERA_DOWN, "failures_before_alert": 2,
     "critical_severity": Severity.HIGH},
    {"name": "Camera authentication failed", "kind": CheckKind.CAMERA_AUTH_FAILED, "failures_before_alert": 1,
     "critical_severity": Severity.MEDIUM},
)


@dataclass(frozen=True)
class Finding:
    """One object failing a check: its key and label, its site (for maintenance windows), the level."""

    object_key: str
    label: str
    site_id: int | None
    critical: bool
    value: float | None
    message: str


def default_checks_for_new_company(sender: type, instance: Company, created: bool, **kwargs: object) -> None:
    """``post_save`` of a company (connected in MonitoringConfig.ready): a new one gets the default checks."""
    if created and not kwargs.get("raw"):
        ensure_default_checks(company=instance)


def ensure_default_checks(*, company: Company) -> int:
    """Create the default checks a company lacks (by kind); returns how many were created."""
    have = set(rows_for_system(Check).filter(company=company).values_list("kind", flat=True))
    missing = [Check(company=company, **spec) for spec in DEFAULT_CHECKS if spec["kind"] not in have]
    rows_for_system(Check).bulk_create(missing)
    return len(missing)


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


def _findings(check: Check) -> Iterable[Finding]:
    kind, company = check.kind, check.company_id
    devices = rows_for_system(Device).filter(company_id=company)
    if kind == CheckKind.AGENT_OFFLINE:
        now = timezone.now()
        for device in devices.filter(status=DeviceStatus.OFFLINE).exclude(last_seen__isnull=True):
            minutes = (now - device.last_seen).total_seconds() / 60
            level = _level(minutes, check)
            if level is not None:
                yield Finding(f"device:{device.pk}", str(device), device.site_id, level, round(minutes, 1),
                              f"{device} has been offline for {minutes:.0f} minutes")
    elif kind in (CheckKind.AGENT_CPU, CheckKind.AGENT_MEMORY):
        name = "cpu_percent" if kind == CheckKind.AGENT_CPU else "memory_percent"
        for device in devices.filter(status=DeviceStatus.ONLINE, **{f"{name}__isnull": False}):
            value = getattr(device, name)
            level = _level(value, check)
            if level is not None:
                what = "CPU" if kind == CheckKind.AGENT_CPU else "Memory"
                yield Finding(f"device:{device.pk}", str(device), device.site_id, level, value,
                              f"{what} on {device} at {value:.0f} %")
    elif kind == CheckKind.AGENT_DISK_FREE:
        for inventory in rows_for_system(DeviceInventory).filter(device__company_id=company).select_related("device"):
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
                                  f"{device}: {disk.get('mount')} has {free:.0f} % free")
    elif kind == CheckKind.SERVICE_NOT_RUNNING:
        for service in rows_for_system(DeviceService).filter(device__company_id=company, name=check.parameter).exclude(
                status="running").select_related("device"):
            yield Finding(f"device:{service.device_id}", str(service.device), service.device.site_id, True, None,
                          f"{service.name} is {service.status or 'not running'} on {service.device}")
    elif kind == CheckKind.CRITICAL_PATCHES:
        counts: dict[int, int] = {}
        for device_id in rows_for_system(PendingPatch).filter(device__company_id=company,
                                                     severity__iexact="critical").values_list("device_id", flat=True):
            counts[device_id] = counts.get(device_id, 0) + 1
        for device in devices.filter(pk__in=counts):
            level = _level(counts[device.pk], check)
            if level is not None:
                yield Finding(f"device:{device.pk}", str(device), device.site_id, level, counts[device.pk],
                              f"{counts[device.pk]} critical patch(es) pending on {device}")
    elif kind in (CheckKind.NETWORK_UNREACHABLE, CheckKind.NETWORK_CPU, CheckKind.NETWORK_STORAGE):
        for gear in rows_for_system(NetworkDevice).filter(company_id=company):
            key = f"network:{gear.pk}"
            if kind == CheckKind.NETWORK_UNREACHABLE:
                if gear.status in ("timeout", "unreachable", "error"):
                    yield Finding(key, str(gear), gear.site_id, True, None,
                                  f"{gear} ({gear.host}) does not answer SNMP: {gear.status_detail}"[:500])
            elif kind == CheckKind.NETWORK_CPU:
                level = _level(gear.cpu_percent, check) if gear.status == "up" else None
                if level is not None:
                    yield Finding(key, str(gear), gear.site_id, level, gear.cpu_percent,
                                  f"CPU on {gear} at {gear.cpu_percent:.0f} %")
            else:
                fullest = max((s.get("used_percent") or 0 for s in gear.storage or []), default=None)
                level = _level(fullest, check) if gear.status == "up" else None
                if level is not None:
                    yield Finding(key, str(gear), gear.site_id, level, fullest,
                                  f"Storage on {gear} {fullest:.0f} % used")
    elif kind == CheckKind.INTERFACE_DOWN:
        interfaces = rows_for_system(NetworkInterface).filter(device__company_id=company, admin_status="up")
        for interface in interfaces.exclude(oper_status="up").select_related("device"):
            yield Finding(f"interface:{interface.pk}", f"{interface.device} {interface}", interface.device.site_id,
                          True, None, f"{interface} on {interface.device} is {interface.oper_status or 'down'}")
    elif kind in (CheckKind.CAMERA_DOWN, CheckKind.CAMERA_AUTH_FAILED):
        wanted = "down" if kind == CheckKind.CAMERA_DOWN else "auth_failed"
        for camera in rows_for_system(Camera).filter(company_id=company, status=wanted):
            yield Finding(f"camera:{camera.pk}", str(camera), camera.site_id, True, None,
                          f"Camera {camera} is {camera.get_status_display().lower()}: {camera.status_detail}"[:500])


def _in_maintenance(company_id: int, finding: Finding, windows: list[MaintenanceWindow]) -> bool:
    for window in windows:
        if window.object_key and window.object_key != finding.object_key:
            continue
        if window.site_id and window.site_id != finding.site_id:
            continue
        return True
    return False


@transaction.atomic
def evaluate_check(*, check: Check) -> list[Alert]:
    """Evaluate one check; returns the alerts it opened."""
    now = timezone.now()
    failing = {finding.object_key: finding for finding in _findings(check)}
    states = {state.object_key: state
              for state in rows_for_system(CheckState).select_for_update().filter(check_rule=check)}
    windows = list(rows_for_system(MaintenanceWindow).filter(company_id=check.company_id, starts_at__lte=now,
                                                             ends_at__gt=now))
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
                publish("alert.updated", company_id=check.company_id, id=current.pk)
            continue
        if _in_maintenance(check.company_id, finding, windows):
            continue
        alert = rows_for_system(Alert).create(company_id=check.company_id, check_rule=check, object_key=key,
                                     object_label=finding.label[:255], kind=check.kind, severity=severity,
                                     message=finding.message[:500], value=finding.value)
        publish("alert.raised", company_id=check.company_id, id=alert.pk, severity=severity)
        opened.append(alert)
    recovered = [key for key in states if key not in failing]
    rows_for_system(CheckState).filter(check_rule=check, object_key__in=recovered).delete()
    unresolved = rows_for_system(Alert).filter(check_rule=check, resolved_at__isnull=True)
    for alert in unresolved.exclude(object_key__in=failing):
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
        alert.save(update_fields=["status", "resolved_at", "last_seen_at"])
        publish("alert.updated", company_id=check.company_id, id=alert.pk)
    return opened


def evaluate_all_checks() -> dict[str, int]:
    """The minute's evaluation of every enabled check; then notify about new high/critical alerts."""
    opened: list[Alert] = []
    for check in rows_for_system(Check).filter(enabled=True).select_related("company"):
        try:
            opened += evaluate_check(check=check)
        except Exception:  # one broken check must not stop the others
            logger.exception("check %s failed to evaluate", check.pk)
    notify(alerts=[alert for alert in opened if alert.severity in NOTIFY_SEVERITIES])
    return {"opened": len(opened)}


def _alert_link(alert: Alert) -> str:
    return f"{settings.FLEETWATCH_BASE_URL.rstrip('/')}/alerts/{alert.pk}/"


def notify(*, alerts: list[Alert]) -> None:
    """Email and Slack, at once, for each alert (company and a link in both). Failures are logged; the
    alert stays open and unmarked, so the daily summary still lists it."""
    for alert in alerts:
        company = rows_for_system(Company).get(pk=alert.company_id)
        # Names and messages come from users and devices: one line, whatever they hold.
        subject = " ".join(f"[Fleetwatch] {alert.get_severity_display()} — {company.name}: {alert.message}"
                           .split())[:200]
        body = (f"{alert.message}\nCompany: {company.name}\nSeverity: {alert.get_severity_display()}\n"
                f"Opened: {alert.opened_at:%Y-%m-%d %H:%M %Z}\n{_alert_link(alert)}\n")
        delivered = False
        if settings.FLEETWATCH_ALERT_EMAILS:
            try:
                send_mail(subject, body, None, settings.FLEETWATCH_ALERT_EMAILS)
                delivered = True
            except Exception:
                logger.exception("could not email alert %s", alert.pk)
        webhook = slack_webhook()
        if webhook:
            try:
                response = httpx.post(webhook, timeout=10, json={
                    "text": f"*{alert.get_severity_display()}* — {company.name}: {alert.message}\n"
                            f"<{_alert_link(alert)}|Open in Fleetwatch>"})
                response.raise_for_status()
                delivered = True
            except httpx.HTTPError:
                logger.exception("could not post alert %s to Slack", alert.pk)
        if delivered:
            rows_for_system(Alert).filter(pk=alert.pk).update(notified_at=timezone.now())


def slack_webhook() -> str:
    """The configured Slack webhook rebuilt from its checked parts; empty when unset or refused (logged, and
    ``manage.py check`` says why)."""
    configured = settings.FLEETWATCH_SLACK_WEBHOOK_URL
    if not configured:
        return ""
    try:
        return slack_target(configured).url
    except ValidationError as refused:
        logger.error("FLEETWATCH_SLACK_WEBHOOK_URL is refused, no Slack message sent: %s", " ".join(refused.messages))
        return ""


def slack_target(url: str) -> TargetUrl:
    return parse_url(url, schemes={"https": 443, "http": 80}, what="Slack webhook URL",
                     plain_http_only_on_loopback=True)


def send_daily_summary() -> int:
    """One email with every unresolved alert, per the last day's opened and resolved counts."""
    if not settings.FLEETWATCH_ALERT_EMAILS:
        return 0
    since = timezone.now() - timedelta(days=1)
    unresolved = list(rows_for_system(Alert).filter(resolved_at__isnull=True).select_related("company")
                      .order_by("company__name", "-severity"))
    opened = rows_for_system(Alert).filter(opened_at__gte=since).count()
    resolved = rows_for_system(Alert).filter(resolved_at__gte=since).count()
    lines = [f"Last 24 hours: {opened} alert(s) opened, {resolved} resolved. Unresolved now: {len(unresolved)}.", ""]
    lines += [f"- {a.company.name}: {a.get_severity_display()} — {a.message} ({a.get_status_display()})"
              for a in unresolved]
    send_mail("[Fleetwatch] Daily alert summary", "\n".join(lines), None, settings.FLEETWATCH_ALERT_EMAILS)
    return len(unresolved)


@transaction.atomic
def acknowledge_alert(*, actor: Actor, alert: Alert, note: str = "") -> Alert:
    """Someone is on it: who, when and a note. The alert still resolves by itself on recovery."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=alert.company_id)
    if alert.resolved_at is not None:
        raise ValidationError("This alert is already resolved.")
    alert.status, alert.acknowledged_at = AlertStatus.ACKNOWLEDGED, timezone.now()
    alert.acknowledged_by_id, alert.acknowledged_by_label = actor.user_id, actor.label[:150]
    alert.acknowledgement_note = note[:2000]
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledged_by_label",
                              "acknowledgement_note", "last_seen_at"])
    record(actor=actor, action="alert.acknowledged", target=alert, company_id=alert.company_id,
           after={"note": alert.acknowledgement_note})
    publish("alert.updated", company_id=alert.company_id, id=alert.pk)
    return alert



CHECK_FIELDS = ("name", "kind", "warning_threshold", "critical_threshold", "failures_before_alert", "parameter",
                "warning_severity", "critical_severity", "enabled")
WINDOW_FIELDS = ("site", "object_key", "starts_at", "ends_at", "reason")


@transaction.atomic
def create_check(*, actor: Actor, company: Company, name: str, kind: str, **fields: Any) -> Check:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=company.pk)
    return save_new(actor=actor, instance=Check(company=company, name=name, kind=kind,
                                                **{k: v for k, v in fields.items() if k in CHECK_FIELDS}))


@transaction.atomic
def update_check(*, actor: Actor, check: Check, **changes: Any) -> Check:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=check.company_id)
    return save_changes(actor=actor, instance=check, changes=changes, editable=CHECK_FIELDS)


@transaction.atomic
def delete_check(*, actor: Actor, check: Check) -> None:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=check.company_id)
    delete_row(actor=actor, instance=check)


@transaction.atomic
def create_maintenance_window(*, actor: Actor, company: Company, starts_at: Any, ends_at: Any,
                              **fields: Any) -> MaintenanceWindow:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=company.pk)
    site = fields.get("site")
    if site is not None and site.company_id != company.pk:
        raise ValidationError({"site": "This site belongs to another company."})
    return save_new(actor=actor, instance=MaintenanceWindow(
        company=company, starts_at=starts_at, ends_at=ends_at,
        **{k: v for k, v in fields.items() if k in WINDOW_FIELDS}))


@transaction.atomic
def update_maintenance_window(*, actor: Actor, maintenancewindow: MaintenanceWindow,
                              **changes: Any) -> MaintenanceWindow:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=maintenancewindow.company_id)
    return save_changes(actor=actor, instance=maintenancewindow, changes=changes, editable=WINDOW_FIELDS)


@transaction.atomic
def delete_maintenance_window(*, actor: Actor, maintenancewindow: MaintenanceWindow) -> None:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=maintenancewindow.company_id)
    delete_row(actor=actor, instance=maintenancewindow)
