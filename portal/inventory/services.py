"""Writes to device records. Each is audited and published; connector syncs write through these too
(see portal/tenancy/services.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from portal.access import Actor, Role, ensure_visible, require_role
from portal.events.groups import agent_group
from portal.events.publish import publish_to_group
from portal.inventory.enrollment import disconnect_agent
from portal.inventory.models import Device, OsType
from portal.tenancy.models import Group, Site
from portal.upstream import Upstream, require_sync, sync_writes
from portal.writes import delete_row, save_changes, save_new

# Not ``external_ids``: connector syncs alone write those (see portal/tenancy/services.py).
DEVICE_FIELDS = ("site", "group", "hostname", "display_name", "os_type", "os_version", "serial_number",
                 "heartbeat_interval")
# What a vendor observed of a device it manages (for an agent's own device, the agent says it).
OBSERVED_FIELDS = ("status", "last_seen", "ip_addresses")


@transaction.atomic
def create_device(*, actor: Actor, site: Site, hostname: str, group: Group | None = None,
                  display_name: str = "", os_type: str = OsType.OTHER, os_version: str = "",
                  serial_number: str = "", upstream: Upstream | None = None, **observed: Any) -> Device:
    """Add a device record to a site (agents enroll through their own service). A sync also passes what
    the vendor observed (``OBSERVED_FIELDS``)."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    require_sync(actor=actor, upstream=upstream)
    unknown = set(observed) - set(sync_writes(upstream=upstream, fields=(), observed=OBSERVED_FIELDS))
    if unknown:
        raise ValueError(f"Not writable here: {', '.join(sorted(unknown))}")
    return save_new(actor=actor, announce=upstream is None, instance=Device(
        company_id=site.company_id, site=site, group=group, hostname=hostname, display_name=display_name,
        os_type=os_type, os_version=os_version, serial_number=serial_number,
        external_ids=upstream.merged_into({}) if upstream is not None else {}, **observed))


@transaction.atomic
def update_device(*, actor: Actor, device: Device, upstream: Upstream | None = None, **changes: Any) -> Device:
    """Change a device's placement or descriptive fields (status comes from the agent or, for a device a
    vendor manages, from its sync)."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=device.company_id)
    require_sync(actor=actor, upstream=upstream)
    if upstream is not None:
        changes["external_ids"] = upstream.merged_into(device.external_ids)
    for placement in ("site", "group"):
        target = changes.get(placement)
        if target is not None:
            ensure_visible(actor=actor, company_id=target.owning_company_id)
    interval_before = device.heartbeat_interval
    device = save_changes(actor=actor, instance=device, changes=changes, announce=upstream is None,
                          editable=sync_writes(upstream=upstream, fields=DEVICE_FIELDS, observed=OBSERVED_FIELDS))
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
