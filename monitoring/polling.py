"""The SNMP polling cycle: claim what is due and share it out in chunks, one task each, so every task
worker polls a part (or one device queued by "poll now"); store each result with interface rates and
a history sample; prune old history.

A chunk's devices carry its claim until their results are stored: the next cycle does not see them
(a slow chunk never piles up behind itself), and a result is stored only by the chunk that holds the
claim, so a chunk that runs twice (a worker lost mid-chunk, its task delivered again) or outlives its
claim stores nothing twice."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.models import NetworkDevice, NetworkInterface, NetworkPollSample
from monitoring.snmp import PollResult, SnmpTarget, octets_rate, poll_many
from portal.access import rows_for_system
from portal.events.publish import batched_publishing, publish
from portal.operations.metrics import SNMP_CYCLE_SECONDS, SNMP_POLLS

CHUNK_TASK = "monitoring.tasks.poll_network_chunk_task"
CLAIM_SECONDS = 15 * 60  # a chunk lost with its worker frees its devices after this
SMALLEST_CHUNK = 50  # below this, a second task costs more than it shares out


def target_of(device: NetworkDevice) -> SnmpTarget:
    return SnmpTarget(host=device.host, port=device.port, version=device.snmp_version, community=device.community,
                      v3_user=device.v3_user, auth_protocol=device.auth_protocol, auth_key=device.auth_key,
                      priv_protocol=device.priv_protocol, priv_key=device.priv_key)


BASE_FIELDS = ["status", "status_detail", "last_polled_at", "next_poll_at", "response_ms", "poll_claim"]
UP_FIELDS = [*BASE_FIELDS, "sys_descr", "sys_object_id", "sys_uptime_seconds", "sys_contact", "sys_name",
             "sys_location", "cpu_percent", "storage"]
INTERFACE_FIELDS = ["name", "alias", "if_type", "speed_bps", "admin_status", "oper_status", "in_octets",
                    "out_octets", "counter_bits", "in_bps", "out_bps", "sampled_at"]
STORE_BATCH = 100  # results per transaction: few statements each, and the write lock is held briefly


def store_poll_result(*, device_id: int, result: PollResult, claim: str = "") -> bool:
    """Store one device's result (see ``store_poll_results``); False when nothing was stored."""
    return store_poll_results(results=[(device_id, result)], claim=claim) == 1


def store_poll_results(*, results: list[tuple[int, PollResult]], claim: str = "") -> int:
    """Keep each device's current state, its interfaces with rates, and one history sample, a batch of
    devices per transaction in a handful of statements. With a ``claim`` (a cycle's chunk), only for the
    devices that still carry it. Returns how many results were stored."""
    stored = 0
    for start in range(0, len(results), STORE_BATCH):
        stored += _store_batch(results[start:start + STORE_BATCH], claim=claim)
    return stored


@transaction.atomic
def _store_batch(results: list[tuple[int, PollResult]], *, claim: str) -> int:
    found = rows_for_system(NetworkDevice).select_for_update().filter(pk__in=[pk for pk, _ in results])
    if claim:
        found = found.filter(poll_claim=claim)  # stored already, or claimed by a newer cycle: dropped
    devices = {device.pk: device for device in found}  # a device deleted while being polled is not here
    results = [(pk, result) for pk, result in results if pk in devices]
    up_ids = [pk for pk, result in results if result.status == "up"]
    interfaces: dict[int, dict[int, NetworkInterface]] = {pk: {} for pk in up_ids}
    for row in rows_for_system(NetworkInterface).filter(device_id__in=up_ids):
        interfaces[row.device_id][row.if_index] = row
    now = timezone.now()
    up, down, samples, changed, created, kept = [], [], [], [], [], set()
    for pk, result in results:
        device = devices[pk]
        device.status, device.status_detail = result.status, result.detail[:300]
        device.last_polled_at, device.response_ms, device.poll_claim = now, result.response_ms, ""
        device.next_poll_at = now + timedelta(minutes=device.poll_interval_minutes)
        total_in = total_out = None
        if result.status == "up":
            _take_system(device, result)
            total_in, total_out = _take_interfaces(device, result, interfaces[pk], now, changed, created, kept)
        (up if result.status == "up" else down).append(device)
        samples.append(NetworkPollSample(device=device, at=now, status=result.status, response_ms=result.response_ms,
                                         cpu_percent=result.cpu_percent if result.status == "up" else None,
                                         in_bps=total_in, out_bps=total_out))
    # One UPDATE per row: Django's bulk_update builds a CASE per field and row, which costs several times
    # the CPU of the plain statements it replaces.
    for device in up:
        device.save(update_fields=UP_FIELDS)
    for device in down:
        device.save(update_fields=BASE_FIELDS)
    for row in changed:
        row.save(update_fields=INTERFACE_FIELDS)
    rows_for_system(NetworkInterface).bulk_create(created)
    gone = [row.pk for rows in interfaces.values() for row in rows.values() if row.pk not in kept]
    rows_for_system(NetworkInterface).filter(pk__in=gone).delete()  # no longer on the device
    rows_for_system(NetworkPollSample).bulk_create(samples)
    with batched_publishing():
        for device in up + down:
            publish("networkdevice.polled", company_id=device.company_id, id=device.pk, status=device.status)
    return len(results)


def _take_system(device: NetworkDevice, result: PollResult) -> None:
    system = result.system
    device.sys_descr, device.sys_object_id = system.get("descr", ""), system.get("object_id", "")[:255]
    device.sys_uptime_seconds = system.get("uptime_seconds")
    device.sys_contact, device.sys_name = system.get("contact", "")[:255], system.get("name", "")[:255]
    device.sys_location = system.get("location", "")[:255]
    device.cpu_percent, device.storage = result.cpu_percent, result.storage


def _take_interfaces(device: NetworkDevice, result: PollResult, existing: dict[int, NetworkInterface], now: Any,
                     changed: list, created: list, kept: set) -> tuple[float | None, float | None]:
    """Each reading onto its row (``changed``, or ``created`` when new) with rates since the last sample."""
    total_in = total_out = None
    for reading in result.interfaces:
        row = existing.get(reading.if_index)
        if row is None:
            row = NetworkInterface(device=device, if_index=reading.if_index)
            created.append(row)
        elif row.pk not in kept:
            kept.add(row.pk)
            changed.append(row)
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
        if in_bps is not None:
            total_in = (total_in or 0) + in_bps
        if out_bps is not None:
            total_out = (total_out or 0) + out_bps
    return total_in, total_out


def poll_devices(*, devices: Iterable[NetworkDevice], claim: str = "") -> dict[str, int]:
    """Poll the devices concurrently (bounded by FLEETWATCH_SNMP_CONCURRENCY) and store every result."""
    targets = [(device.pk, target_of(device)) for device in devices]
    if not targets:
        return {}
    started = time.monotonic()
    results = asyncio.run(poll_many(targets, concurrency=settings.FLEETWATCH_SNMP_CONCURRENCY))
    stored = store_poll_results(results=results, claim=claim)
    counts: dict[str, int] = {"dropped": len(results) - stored} if stored < len(results) else {}
    for _, result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    SNMP_CYCLE_SECONDS.observe(time.monotonic() - started)
    for status, count in counts.items():
        SNMP_POLLS.labels(result=status).inc(count)
    return counts


def due_devices() -> Any:
    """Devices never polled, or whose interval has passed since their last poll (within the minute the
    cycle runs on, so a 5-minute interval polls every 5 minutes, not every 6). A claimed device is due
    again only when its claim has run out."""
    return rows_for_system(NetworkDevice).filter(Q(next_poll_at__isnull=True)
                                        | Q(next_poll_at__lte=timezone.now() + timedelta(seconds=20)))


def claim_due_devices() -> list[str]:
    """Claim every due device for one of up to FLEETWATCH_SNMP_CHUNKS chunks; the chunks' claims."""
    with transaction.atomic():
        due = due_devices().order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)  # two clusters dispatching at once split, not collide
        device_ids = list(due.values_list("pk", flat=True))
        if not device_ids:
            return []
        chunks = min(settings.FLEETWATCH_SNMP_CHUNKS, math.ceil(len(device_ids) / SMALLEST_CHUNK))
        cycle, until = secrets.token_hex(6), timezone.now() + timedelta(seconds=CLAIM_SECONDS)
        claims = [f"{cycle}-{number}" for number in range(chunks)]
        for number, claim in enumerate(claims):
            rows_for_system(NetworkDevice).filter(pk__in=device_ids[number::chunks]).update(
                poll_claim=claim, next_poll_at=until)
    return claims


def poll_due_devices() -> dict[str, int]:
    """One polling cycle: claim what is due and queue one chunk task per claim (each worker takes one)."""
    from django_q.tasks import async_task

    claims = claim_due_devices()
    for claim in claims:
        async_task(CHUNK_TASK, claim, group="network: poll chunk")
    return {"chunks": len(claims)} if claims else {}


def poll_claimed(*, claim: str) -> dict[str, int]:
    """One chunk of a cycle: the devices that still carry its claim (none, when it ran already)."""
    return poll_devices(devices=list(rows_for_system(NetworkDevice).filter(poll_claim=claim)), claim=claim)


def poll_one(*, device_id: int) -> dict[str, int]:
    """The queued "poll now" (on the task cluster): the device as it is now, if it still exists."""
    return poll_devices(devices=list(rows_for_system(NetworkDevice).filter(pk=device_id)))


def prune_network_history() -> int:
    cutoff = timezone.now() - timedelta(days=settings.FLEETWATCH_NETWORK_RETENTION_DAYS)
    deleted, _ = rows_for_system(NetworkPollSample).filter(at__lt=cutoff).delete()
    return deleted
