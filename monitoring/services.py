"""The monitoring writes people make (operators): network devices, cameras, checks, maintenance windows,
acknowledging alerts, and "poll now" / "check now" queued on the task cluster. Every new company gets
the default checks. The cycles that poll, check and evaluate live in polling, camera_checks and
evaluation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from monitoring.cycles import queue_now
from monitoring.models import (
    Alert,
    AlertStatus,
    Camera,
    Check,
    CheckKind,
    MaintenanceWindow,
    NetworkDevice,
    Severity,
)
from monitoring.rtsp import rtsp_target
from portal.access import Actor, Role, ensure_visible, require_msp_admin, require_role, rows_for_system
from portal.audit.services import record
from portal.events.publish import publish
from portal.policies.models import Policy
from portal.policies.services import company_policy
from portal.targets import parse_host
from portal.tenancy.models import Company, Group, Site
from portal.writes import clear_retargeted_secrets, delete_row, explain_cleared, save_changes, save_new

DEVICE_FIELDS = ("site", "group", "name", "host", "port", "vendor", "device_type", "snmp_version", "community",
                 "v3_user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "poll_interval_minutes")
SECRET_FIELDS = ("community", "auth_key", "priv_key")
CAMERA_FIELDS = ("site", "name", "host", "rtsp_url", "username", "password", "location", "check_interval_minutes")
CHECK_FIELDS = ("name", "kind", "warning_threshold", "critical_threshold", "failures_before_alert", "parameter",
                "warning_severity", "critical_severity", "enabled", "script", "interval_minutes", "warning_exit_codes",
                "event_source", "event_id", "event_level", "restart_service")
WINDOW_FIELDS = ("site", "object_key", "starts_at", "ends_at", "reason")

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


@transaction.atomic
def create_network_device(*, actor: Actor, site: Site, name: str, host: str, group: Group | None = None,
                          **fields: Any) -> NetworkDevice:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    unknown = set(fields) - set(DEVICE_FIELDS)
    if unknown:
        raise ValueError(f"Unknown fields: {', '.join(sorted(unknown))}")
    return save_new(actor=actor, instance=NetworkDevice(company_id=site.company_id, site=site, group=group,
                                                        name=name, host=host, **fields))


@transaction.atomic
def update_network_device(*, actor: Actor, networkdevice: NetworkDevice, **changes: Any) -> NetworkDevice:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=networkdevice.company_id)
    site = changes.get("site")
    if site is not None:
        ensure_visible(actor=actor, company_id=site.company_id)
        if site.company_id != networkdevice.company_id:
            changes["company"] = site.company  # moving to another company's site moves the device
    # An empty secret means "keep the stored one", unless the device moves to another host or port.
    cleared = clear_retargeted_secrets(instance=networkdevice, changes=changes,
                                       targets={"host": parse_host, "port": int}, secrets=SECRET_FIELDS)
    editable = (*DEVICE_FIELDS, "company")
    interval_before = networkdevice.poll_interval_minutes
    try:
        device = save_changes(actor=actor, instance=networkdevice, changes=changes, editable=editable)
    except ValidationError as error:
        raise explain_cleared(error, cleared, moved="The host or port") from error
    if device.poll_interval_minutes != interval_before and device.last_polled_at is not None:
        device.next_poll_at = device.last_polled_at + timedelta(minutes=device.poll_interval_minutes)
        device.save(update_fields=["next_poll_at"])
    return device


@transaction.atomic
def delete_network_device(*, actor: Actor, networkdevice: NetworkDevice) -> None:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=networkdevice.company_id)
    delete_row(actor=actor, instance=networkdevice)


def poll_now(*, actor: Actor, networkdevice: NetworkDevice) -> NetworkDevice:
    """Queue a poll of one device at once (operators). It runs on the task cluster, never on the request's
    thread (an unreachable device would hold it for seconds); the result is stored and pushed to the open
    pages like a scheduled poll's."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=networkdevice.company_id)
    queue_now(what="network-poll", object_id=networkdevice.pk, task="monitoring.tasks.poll_network_device_task",
              created=networkdevice.created_at)
    return networkdevice


@transaction.atomic
def create_camera(*, actor: Actor, site: Site, name: str, host: str, rtsp_url: str, **fields: Any) -> Camera:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    return save_new(actor=actor, instance=Camera(company_id=site.company_id, site=site, name=name, host=host,
                                                 rtsp_url=rtsp_url, **fields))


@transaction.atomic
def update_camera(*, actor: Actor, camera: Camera, **changes: Any) -> Camera:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=camera.company_id)
    site = changes.get("site")
    if site is not None:
        ensure_visible(actor=actor, company_id=site.company_id)
        changes["company"] = site.company
    # An empty password keeps the stored one, unless the camera moves to another host or URL: then it is
    # cleared (the check would send it there), and the form says so.
    clear_retargeted_secrets(instance=camera, changes=changes,
                             targets={"host": parse_host, "rtsp_url": lambda url: rtsp_target(url).url},
                             secrets=("password",))
    return save_changes(actor=actor, instance=camera, changes=changes, editable=(*CAMERA_FIELDS, "company"))


@transaction.atomic
def delete_camera(*, actor: Actor, camera: Camera) -> None:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=camera.company_id)
    delete_row(actor=actor, instance=camera)


def check_now(*, actor: Actor, camera: Camera) -> Camera:
    """Queue a check of one camera at once (operators), on the task cluster like ``poll_now``."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=camera.company_id)
    queue_now(what="camera-check", object_id=camera.pk, task="monitoring.tasks.check_camera_task",
              created=camera.created_at)
    return camera


def _require_check_writer(actor: Actor, policy: Policy) -> None:
    """A company's policy's checks are its operators'; an MSP-wide policy's, admins' who see every company."""
    if policy.company_id is None:
        require_msp_admin(actor, what="Checks of a policy of the whole MSP")
        return
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=policy.company_id)


@transaction.atomic
def create_check(*, actor: Actor, name: str, kind: str, policy: Policy | None = None, company: Company | None = None,
                 **fields: Any) -> Check:
    """Add a check to a policy, or to a company's own policy (created and assigned to it the first time)."""
    if policy is None:
        if company is None:
            raise ValidationError("Choose the policy the check belongs to (or a company, for its own policy).")
        require_role(actor, Role.OPERATOR)
        ensure_visible(actor=actor, company_id=company.pk)
        policy = company_policy(company=company)
    _require_check_writer(actor, policy)
    return save_new(actor=actor, instance=Check(policy=policy, company_id=policy.company_id, name=name, kind=kind,
                                                **{k: v for k, v in fields.items() if k in CHECK_FIELDS}))


@transaction.atomic
def update_check(*, actor: Actor, check: Check, **changes: Any) -> Check:
    _require_check_writer(actor, check.policy)
    return save_changes(actor=actor, instance=check, changes=changes, editable=CHECK_FIELDS)


@transaction.atomic
def delete_check(*, actor: Actor, check: Check) -> None:
    _require_check_writer(actor, check.policy)
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


def default_checks_for_new_company(sender: type, instance: Company, created: bool, **kwargs: object) -> None:
    """``post_save`` of a company (connected in MonitoringConfig.ready): a new one gets the default checks."""
    if created and not kwargs.get("raw"):
        ensure_default_checks(company=instance)


def ensure_default_checks(*, company: Company) -> int:
    """Create the default checks a company's own policy lacks (by kind); returns how many were created."""
    policy = company_policy(company=company)
    have = set(rows_for_system(Check).filter(policy=policy).values_list("kind", flat=True))
    missing = [Check(policy=policy, company=company, **spec) for spec in DEFAULT_CHECKS if spec["kind"] not in have]
    rows_for_system(Check).bulk_create(missing)
    return len(missing)
