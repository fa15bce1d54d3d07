"""The SNMP polling cycle: poll what is due (or one device queued by "poll now"), store each result
with interface rates and a history sample, and prune old history."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.cycles import unless_running
from monitoring.models import NetworkDevice, NetworkInterface, NetworkPollSample
from monitoring.snmp import PollResult, SnmpTarget, octets_rate, poll_many
from portal.access import rows_for_system
from portal.events.publish import publish

CYCLE_LOCK = "monitoring:snmp-cycle"


def target_of(device: NetworkDevice) -> SnmpTarget:
    return SnmpTarget(host=device.host, port=device.port, version=device.snmp_version, community=device.community,
                      v3_user=device.v3_user, auth_protocol=device.auth_protocol, auth_key=device.auth_key,
                      priv_protocol=device.priv_protocol, priv_key=device.priv_key)


@transaction.atomic
def store_poll_result(*, device_id: int, result: PollResult) -> None:
    """Keep the device's current state, its interfaces with rates, and one history sample."""
    device = rows_for_system(NetworkDevice).select_for_update().filter(pk=device_id).first()
    if device is None:
        return  # deleted while it was being polled
    now = timezone.now()
    device.status, device.status_detail = result.status, result.detail[:300]
    device.last_polled_at, device.response_ms = now, result.response_ms
    device.next_poll_at = now + timedelta(minutes=device.poll_interval_minutes)
    update = ["status", "status_detail", "last_polled_at", "next_poll_at", "response_ms"]
    total_in = total_out = None
    if result.status == "up":
        system = result.system
        device.sys_descr, device.sys_object_id = system.get("descr", ""), system.get("object_id", "")[:255]
        device.sys_uptime_seconds = system.get("uptime_seconds")
        device.sys_contact, device.sys_name = system.get("contact", "")[:255], system.get("name", "")[:255]
        device.sys_location = system.get("location", "")[:255]
        device.cpu_percent, device.storage = result.cpu_percent, result.storage
        update += ["sys_descr", "sys_object_id", "sys_uptime_seconds", "sys_contact", "sys_name", "sys_location",
                   "cpu_percent", "storage"]
        total_in, total_out = _store_interfaces(device, result, now)
    device.save(update_fields=update)
    rows_for_system(NetworkPollSample).create(
        device=device, at=now, status=result.status, response_ms=result.response_ms,
        cpu_percent=result.cpu_percent if result.status == "up" else None, in_bps=total_in, out_bps=total_out)
    publish("networkdevice.polled", company_id=device.company_id, id=device.pk, status=device.status)


def _store_interfaces(device: NetworkDevice, result: PollResult, now: Any) -> tuple[float | None, float | None]:
    existing = {i.if_index: i for i in rows_for_system(NetworkInterface).filter(device=device)}
    total_in = total_out = None
    keep = []
    for reading in result.interfaces:
        row = existing.get(reading.if_index) or NetworkInterface(device=device, if_index=reading.if_index)
        seconds = (now - row.sampled_at).total_seconds() if row.sampled_at else 0
        same_width = row.counter_bits == reading.counter_bits
        in_bps = octets_rate(previous=int(row.in_octets) if row.in_octets is not None and same_width else None,
                             current=reading.in_octets, seconds=seconds, counter_bits=reading.counter_bits,
                             speed_bps=reading.speed_bps)
        out_bps = octets_rate(previous=int(row.out_octets) if row.out_octets is not None and same_width else None,
                              current=reading.out_octets, seconds=seconds, counter_bits=reading.counter_bits,
                              speed_bps=reading.speed_bps)
        row.name, row.alias, row.if_type = reading.name[:255], reading.alias[:255], reading.if_type
        row.speed_bps, row.admin_status, row.oper_status = reading.speed_bps, reading.admin_status, \
            reading.oper_status
        row.in_octets = Decimal(reading.in_octets) if reading.in_octets is not None else None
        row.out_octets = Decimal(reading.out_octets) if reading.out_octets is not None else None
        row.counter_bits, row.in_bps, row.out_bps, row.sampled_at = reading.counter_bits, in_bps, out_bps, now
        row.save()
        keep.append(row.pk)
        if in_bps is not None:
            total_in = (total_in or 0) + in_bps
        if out_bps is not None:
            total_out = (total_out or 0) + out_bps
    rows_for_system(NetworkInterface).filter(device=device).exclude(pk__in=keep).delete()  # gone from the device
    return total_in, total_out


def poll_devices(*, devices: Iterable[NetworkDevice]) -> dict[str, int]:
    """Poll the devices concurrently (bounded by FLEETWATCH_SNMP_CONCURRENCY) and store every result."""
    targets = [(device.pk, target_of(device)) for device in devices]
    if not targets:
        return {}
    results = asyncio.run(poll_many(targets, concurrency=settings.FLEETWATCH_SNMP_CONCURRENCY))
    counts: dict[str, int] = {}
    for device_id, result in results:
        store_poll_result(device_id=device_id, result=result)
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def due_devices() -> Any:
    """Devices never polled, or whose interval has passed since their last poll (within the minute the
    cycle runs on, so a 5-minute interval polls every 5 minutes, not every 6)."""
    return rows_for_system(NetworkDevice).filter(Q(next_poll_at__isnull=True)
                                        | Q(next_poll_at__lte=timezone.now() + timedelta(seconds=20)))


def poll_due_devices() -> dict[str, int] | None:
    """One polling cycle. A cycle still running (a slow network) makes the next one skip, not pile up."""
    return unless_running(CYCLE_LOCK, lambda: poll_devices(devices=list(due_devices())))


def poll_one(*, device_id: int) -> dict[str, int]:
    """The queued "poll now" (on the task cluster): the device as it is now, if it still exists."""
    return poll_devices(devices=list(rows_for_system(NetworkDevice).filter(pk=device_id)))


def prune_network_history() -> int:
    cutoff = timezone.now() - timedelta(days=settings.FLEETWATCH_NETWORK_RETENTION_DAYS)
    deleted, _ = rows_for_system(NetworkPollSample).filter(at__lt=cutoff).delete()
    return deleted
