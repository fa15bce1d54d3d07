"""Each device's patch summary (``DevicePatchStatus``), refreshed from the approval engine by a job every few
minutes and for a device at once when a technician decides on its updates: what compliance and the lists
count, so those pages never evaluate three million (device, update) pairs on a request."""

from __future__ import annotations

import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from portal.inventory.models import Device, OutcomeState, PatchOutcome, PatchUpdate, PendingPatch
from portal.patching.evaluation import NEEDED, DeviceVerdicts, State, evaluate
from portal.patching.models import DevicePatchStatus, PatchQueueEntry, PatchWindow
from portal.patching.windows import earliest_next
from portal.tenancy.models import Company

COUNTED = ("pending", "approved", "deferred", "awaiting", "denied", "unmanaged", "missing_critical", "failed")


def company_zones() -> dict[int, zoneinfo.ZoneInfo]:
    default = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return {pk: zoneinfo.ZoneInfo(name) if name else default
            for pk, name in Company.objects.values_list("pk", "time_zone")}


def windows_by_policy() -> dict[int, list[PatchWindow]]:
    found: dict[int, list[PatchWindow]] = defaultdict(list)
    for window in PatchWindow.objects.all():
        found[window.policy_id].append(window)
    return found


def summary(device: DeviceVerdicts, *, failed: set[tuple[int, int]]) -> tuple[int, ...]:
    """The device's counts in ``COUNTED`` order, in one pass over its verdicts."""
    counts = dict.fromkeys((State.APPROVED, State.DEFERRED, State.AWAITING, State.DENIED, State.UNMANAGED,
                            State.EXCLUDED), 0)
    critical = failing = 0
    for update, verdict in device.verdicts:
        counts[verdict.state] += 1
        if update.critical and verdict.state in NEEDED:
            critical += 1
        if failed and (device.device_id, update.pk) in failed:
            failing += 1
    return (len(device.verdicts), counts[State.APPROVED], counts[State.DEFERRED], counts[State.AWAITING],
            counts[State.DENIED], counts[State.UNMANAGED], critical, failing)


def refresh_patch_status(*, company_ids: Iterable[int] | None = None, now: datetime | None = None) -> int:
    """Store each device's summary and each company's approval queue as the engine finds them now (every
    company, or the given ones), writing only what changed; a full run also counts the catalogue. Returns how
    many device summaries changed.

    Stored rows are read and compared as plain tuples: building 15,000 summaries and 60,000 queue rows as model
    objects only to find that nothing changed cost more than the evaluation itself."""
    now = now or timezone.now()
    devices = Device.objects.all() if company_ids is None else Device.objects.filter(company_id__in=list(company_ids))
    company_of = dict(devices.values_list("pk", "company_id"))
    wanted = None if company_ids is None else list(company_of)
    outcomes = PatchOutcome.objects.filter(state=OutcomeState.FAILED)
    failed = set((outcomes if wanted is None else outcomes.filter(device_id__in=wanted))
                 .values_list("device_id", "update_id"))
    zones, windows = company_zones(), windows_by_policy()
    stored = DevicePatchStatus.objects.all() if wanted is None else DevicePatchStatus.objects.filter(
        device_id__in=wanted)
    existing = {row[0]: row[1:] for row in stored.values_list("device_id", *COUNTED, "policy_id", "next_window_at")}
    next_windows: dict[tuple[int, int], datetime | None] = {}
    queue: Counter[tuple[int, int]] = Counter()
    created, changed = [], []
    for device in evaluate(device_ids=wanted, now=now):
        company_id = company_of[device.device_id]
        for update, verdict in device.verdicts:
            if verdict.state == State.AWAITING:
                queue[(company_id, update.pk)] += 1
        policy_id = device.policy.policy_id if device.policy else None
        next_at = None
        if policy_id is not None:
            key = (policy_id, company_id)
            if key not in next_windows:
                upcoming = earliest_next(windows.get(policy_id, []), after=now, zone=zones[company_id])
                next_windows[key] = upcoming.start if upcoming else None
            next_at = next_windows[key]
        values = (*summary(device, failed=failed), policy_id, next_at)
        if existing.get(device.device_id) == values:
            continue
        row = DevicePatchStatus(device_id=device.device_id, evaluated_at=now, policy_id=policy_id,
                                next_window_at=next_at, **dict(zip(COUNTED, values, strict=False)))
        (changed if device.device_id in existing else created).append(row)
    with transaction.atomic():
        # A decision's refresh of one company may race the 5-minute job: the first to store a new row wins.
        DevicePatchStatus.objects.bulk_create(created, batch_size=1000, ignore_conflicts=True)
        DevicePatchStatus.objects.bulk_update(changed, [*COUNTED, "policy", "next_window_at", "evaluated_at"],
                                              batch_size=500)
        _store_queue(queue, company_ids=None if company_ids is None else set(company_ids), now=now)
        if company_ids is None:
            count_catalogue()
    return len(created) + len(changed)


def _store_queue(queue: Counter[tuple[int, int]], *, company_ids: set[int] | None, now: datetime) -> None:
    stored = PatchQueueEntry.objects.all() if company_ids is None else PatchQueueEntry.objects.filter(
        company_id__in=company_ids)
    existing = {(company_id, update_id): (pk, devices) for pk, company_id, update_id, devices in
                stored.values_list("pk", "company_id", "update_id", "devices")}
    stale = [pk for key, (pk, _) in existing.items() if key not in queue]
    changed = [PatchQueueEntry(pk=existing[key][0], devices=devices) for key, devices in queue.items()
               if key in existing and existing[key][1] != devices]
    for start in range(0, len(stale), 5000):
        PatchQueueEntry.objects.filter(pk__in=stale[start:start + 5000]).delete()
    PatchQueueEntry.objects.bulk_update(changed, ["devices"], batch_size=500)
    PatchQueueEntry.objects.bulk_create([PatchQueueEntry(company_id=company_id, update_id=update_id, devices=devices,
                                                         first_seen_at=now)
                                         for (company_id, update_id), devices in queue.items()
                                         if (company_id, update_id) not in existing],
                                        batch_size=1000, ignore_conflicts=True)


def count_catalogue() -> int:
    """Every catalogue row's fleet-wide counts: devices needing it, that have it, whose install failed."""
    needing = dict(PendingPatch.objects.order_by().values("update_id").annotate(n=Count("pk"))
                   .values_list("update_id", "n"))
    outcomes: dict[tuple[int, str], int] = {
        (update_id, state): count for update_id, state, count in
        PatchOutcome.objects.order_by().values("update_id", "state").annotate(n=Count("pk"))
        .values_list("update_id", "state", "n")}
    changed = []
    for update in PatchUpdate.objects.only("pk", "devices_needing", "devices_installed", "devices_failed"):
        counts = (needing.get(update.pk, 0), outcomes.get((update.pk, OutcomeState.INSTALLED), 0),
                  outcomes.get((update.pk, OutcomeState.FAILED), 0))
        if counts != (update.devices_needing, update.devices_installed, update.devices_failed):
            update.devices_needing, update.devices_installed, update.devices_failed = counts
            changed.append(update)
    PatchUpdate.objects.bulk_update(changed, ["devices_needing", "devices_installed", "devices_failed"],
                                    batch_size=500)
    return len(changed)
