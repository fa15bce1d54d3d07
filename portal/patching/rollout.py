"""Patch windows at work: each minute, the devices whose window has just opened get one install action with
their approved updates (and the policy's restart rules), signed and delivered like every other action.

An action queued for a window expires when the window closes, so an agent offline for the whole window
installs at its next window; with "catch up" it expires only when the next window opens, so the agent
installs as soon as it is back. A window occurrence is run at most once per device (``PatchRun``), and the
job holds a lock, so two task clusters never queue it twice.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from portal.access import Actor, system_actor
from portal.actions.requests import queue_each
from portal.actions.specs import updates_spec
from portal.inventory.models import AgentCredential, Device, PatchUpdate
from portal.locks import unless_running
from portal.patching.evaluation import State, evaluate, patch_policies_by_device
from portal.patching.models import PatchPolicy, PatchRun, PatchWindow
from portal.patching.results import install_entries
from portal.patching.status import company_zones, windows_by_policy
from portal.patching.windows import Occurrence, next_occurrence, open_occurrence

LOCK = "patching:windows"
CATCH_UP_DAYS = 35  # a catch-up install waits at most this long for its agent


def _due(now: datetime) -> dict[int, tuple[PatchPolicy, Occurrence]]:
    """Devices of our agent whose patch window is open now, and have not had this occurrence yet."""
    windows = windows_by_policy()
    if not windows:
        return {}
    zones = company_zones()
    with_agent = Exists(AgentCredential.objects.filter(device=OuterRef("pk"), revoked_at__isnull=True))
    devices = dict(Device.objects.filter(with_agent).values_list("pk", "company_id"))
    open_now: dict[int, tuple[PatchPolicy, Occurrence]] = {}
    memo: dict[tuple[int, int], Occurrence | None] = {}
    for device_id, patching in patch_policies_by_device(device_ids=list(devices)).items():
        if patching is None or patching.policy_id not in windows:
            continue
        key = (patching.policy_id, devices[device_id])
        if key not in memo:
            found = [occurrence for window in windows[patching.policy_id]
                     if (occurrence := open_occurrence(window, at=now, zone=zones[key[1]]))]
            memo[key] = min(found, key=lambda occurrence: occurrence.start) if found else None
        if memo[key] is not None:
            open_now[device_id] = (patching, memo[key])
    ran = set(PatchRun.objects.filter(device_id__in=list(open_now), window_end__gt=now).values_list(
        "device_id", "window_start"))
    return {device_id: due for device_id, due in open_now.items() if (device_id, due[1].start) not in ran}


def _expiry(patching: PatchPolicy, occurrence: Occurrence, *, windows: list[PatchWindow],
            zone: zoneinfo.ZoneInfo) -> datetime:
    """Until the window closes; with catch-up, until the next one opens (a month at most)."""
    if not patching.catch_up:
        return occurrence.end
    following = [found for window in windows if (found := next_occurrence(window, after=occurrence.end, zone=zone))]
    limit = occurrence.end + timedelta(days=CATCH_UP_DAYS)
    return min([found.start for found in following] + [limit])


@transaction.atomic
def _queue(due: dict[int, tuple[PatchPolicy, Occurrence]], *, now: datetime, actor: Actor) -> int:
    devices = {device.pk: device for device in Device.objects.filter(pk__in=list(due))}
    approved: dict[int, list[int]] = {}
    for device in evaluate(device_ids=list(due), now=now):
        approved[device.device_id] = [update.pk for update, verdict in device.verdicts
                                      if verdict.state == State.APPROVED]
    updates = PatchUpdate.objects.in_bulk({pk for ids in approved.values() for pk in ids})
    zones, windows = company_zones(), windows_by_policy()
    planned, expiries, runs = [], {}, []
    for device_id, (patching, occurrence) in due.items():
        device = devices.get(device_id)
        if device is None:
            continue
        chosen = [updates[pk] for pk in approved.get(device_id, []) if pk in updates][:500]
        runs.append(PatchRun(device=device, policy_id=patching.policy_id, window_start=occurrence.start,
                             window_end=occurrence.end, updates=len(chosen), suppress_alerts=patching.suppress_alerts))
        if chosen:
            planned.append((device, updates_spec(updates=install_entries(chosen), reboot=patching.reboot_payload(),
                                                 title=f"Install {len(chosen)} approved update(s)")))
            expiries[device_id] = _expiry(patching, occurrence, windows=windows.get(patching.policy_id, []),
                                          zone=zones[device.company_id])
    PatchRun.objects.bulk_create(runs, batch_size=1000)
    actions = queue_each(actor=actor, planned=planned, title="Patch window", expires_at=expiries)
    by_device = {action.device_id: action.pk for action in actions}
    for run in runs:
        if run.device_id in by_device:
            run.action_number = by_device[run.device_id]
    PatchRun.objects.bulk_update([run for run in runs if run.action_number], ["action_number"], batch_size=1000)
    return len(actions)


def open_patch_windows(*, now: datetime | None = None) -> int | None:
    """Queue the approved updates of every device whose window opened (the one-minute job). Returns how many
    install actions were queued, or None when another worker is running it."""
    now = now or timezone.now()

    def run() -> int:
        due = _due(now)
        return _queue(due, now=now, actor=system_actor("patch window")) if due else 0

    return unless_running(LOCK, run)


def devices_in_patch_window(*, now: datetime | None = None) -> set[int]:
    """Devices whose patch window is open and whose policy keeps alerts quiet meanwhile."""
    now = now or timezone.now()
    return set(PatchRun.objects.filter(window_start__lte=now, window_end__gt=now, suppress_alerts=True)
               .values_list("device_id", flat=True))
