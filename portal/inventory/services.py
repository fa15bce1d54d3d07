"""Writes to device records. Each is audited and published."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from portal.access import Actor, Role, ensure_visible, require_role
from portal.events.groups import agent_group
from portal.events.publish import publish_to_group
from portal.inventory.enrollment import disconnect_agent
from portal.inventory.models import Device, OsType
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
