"""Writes to device records. Each is audited and published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.access import Actor, Role, ensure_visible, require_role
from portal.events.groups import agent_group
from portal.events.publish import publish, publish_to_group
from portal.inventory.enrollment import disconnect_agent
from portal.inventory.models import Device, DeviceStatus, OsType
from portal.tenancy.models import Group, Site
from portal.writes import delete_row, save_changes, save_new

# Not ``external_ids``: connectors alone write those (see portal/tenancy/services.py).
DEVICE_FIELDS = ("site", "group", "hostname", "display_name", "os_type", "os_version", "serial_number",
                 "heartbeat_interval")


@transaction.atomic
def create_device(*, actor: Actor, site: Site, hostname: str, group: Group | None = None,
                  display_name: str = "", os_type: str = OsType.OTHER, os_version: str = "",
                  serial_number: str = "") -> Device:
    """Add a device record to a site (agents enroll through their own service)."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    return save_new(actor=actor, instance=Device(
        company_id=site.company_id, site=site, group=group, hostname=hostname, display_name=display_name,
        os_type=os_type, os_version=os_version, serial_number=serial_number))


@transaction.atomic
def update_device(*, actor: Actor, device: Device, **changes: Any) -> Device:
    """Change a device's placement or descriptive fields (status comes from the agent, not from here)."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=device.company_id)
    for placement in ("site", "group"):
        target = changes.get(placement)
        if target is not None:
            ensure_visible(actor=actor, company_id=target.owning_company_id)
    interval_before = device.heartbeat_interval
    device = save_changes(actor=actor, instance=device, changes=changes, editable=DEVICE_FIELDS)
    if device.heartbeat_interval != interval_before:
        publish_to_group(agent_group(device.pk), {"type": "agent.config",
                                                  "heartbeat_interval": device.heartbeat_interval})
    return device


@transaction.atomic
def delete_device(*, actor: Actor, device: Device) -> None:
    """Delete a device record and its history."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=device.company_id)
    device_id = device.pk
    delete_row(actor=actor, instance=device)
    disconnect_agent(device_id=device_id)


@transaction.atomic
def set_device_status(*, actor: Actor, device: Device, status: str, seen_at: datetime | None = None) -> Device:
    """Record that a device came online or went offline; publishes ``device.status_changed`` on a change.

    Called by the agent channel and the silence sweep as the system actor. Not audited: status is
    observed, not edited, and would flood the audit log; the change is published instead.
    """
    ensure_visible(actor=actor, company_id=device.company_id)
    if status not in DeviceStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    changes: dict[str, Any] = {}
    if device.status != status:
        changes["status"] = status
    if seen_at is not None:
        changes["last_seen"] = seen_at
    if not changes:
        return device
    Device.objects.filter(pk=device.pk).update(**changes, updated_at=timezone.now())
    for name, value in changes.items():
        setattr(device, name, value)
    if "status" in changes:
        publish("device.status_changed", company_id=device.company_id, id=device.pk, status=status)
    return device
