"""Reads of patch management, always through the reader's scope: the catalogue with counts of the reader's
devices only, the approval queue, decisions, a device's updates with their verdicts, and an update's devices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from portal.access import Actor, visible_to
from portal.inventory.models import Device, OutcomeState, PatchOutcome, PatchUpdate, PendingPatch
from portal.patching.evaluation import Verdict, evaluate
from portal.patching.models import (
    ComplianceReportSchedule,
    DevicePatchStatus,
    PatchApproval,
    PatchPolicy,
    PatchQueueEntry,
    PatchRun,
    PatchWindow,
)


def patch_policies_for(*, actor: Actor) -> QuerySet[PatchPolicy]:
    return visible_to(PatchPolicy.objects.select_related("policy", "policy__company"), actor)


def patch_windows_for(*, actor: Actor) -> QuerySet[PatchWindow]:
    return visible_to(PatchWindow.objects.select_related("policy"), actor)


def approvals_for(*, actor: Actor) -> QuerySet[PatchApproval]:
    return visible_to(PatchApproval.objects.select_related("company", "update", "device"), actor)


def queue_for(*, actor: Actor) -> QuerySet[PatchQueueEntry]:
    return visible_to(PatchQueueEntry.objects.select_related("company", "update"), actor)


def patch_runs_for(*, actor: Actor) -> QuerySet[PatchRun]:
    return visible_to(PatchRun.objects.select_related("device", "policy"), actor)


def patch_statuses_for(*, actor: Actor) -> QuerySet[DevicePatchStatus]:
    return visible_to(DevicePatchStatus.objects.select_related("device", "policy"), actor)


def outcomes_for(*, actor: Actor) -> QuerySet[PatchOutcome]:
    return visible_to(PatchOutcome.objects.select_related("update", "device"), actor)


def report_schedules_for(*, actor: Actor) -> QuerySet[ComplianceReportSchedule]:
    return visible_to(ComplianceReportSchedule.objects.select_related("company"), actor)


def updates_for(*, actor: Actor) -> QuerySet[PatchUpdate]:
    """The catalogue rows the actor may see: those some of their devices need or had."""
    return visible_to(PatchUpdate.objects.all(), actor)


@dataclass(frozen=True)
class Counts:
    needing: int = 0
    installed: int = 0
    failed: int = 0


def update_counts(*, actor: Actor, update_ids: list[int] | None = None) -> dict[int, Counts]:
    """update id → how many of the actor's devices need it, have it, failed it. A reader who sees every
    company reads the fleet-wide counts the status job keeps; a scoped reader's are counted now, over their
    devices only."""
    if actor.sees_all_companies:
        rows = PatchUpdate.objects.all() if update_ids is None else PatchUpdate.objects.filter(pk__in=update_ids)
        return {pk: Counts(needing, installed, failed) for pk, needing, installed, failed in rows.values_list(
            "pk", "devices_needing", "devices_installed", "devices_failed")}
    pending = visible_to(PendingPatch.objects.all(), actor)
    outcomes = visible_to(PatchOutcome.objects.all(), actor)
    if update_ids is not None:
        pending, outcomes = pending.filter(update_id__in=update_ids), outcomes.filter(update_id__in=update_ids)
    needing = dict(pending.order_by().values("update_id").annotate(n=Count("pk")).values_list("update_id", "n"))
    by_state = {(update_id, state): n for update_id, state, n in outcomes.order_by().values("update_id", "state")
                .annotate(n=Count("pk")).values_list("update_id", "state", "n")}
    ids = set(needing) | {update_id for update_id, _ in by_state}
    return {pk: Counts(needing.get(pk, 0), by_state.get((pk, OutcomeState.INSTALLED), 0),
                       by_state.get((pk, OutcomeState.FAILED), 0)) for pk in ids}


@dataclass(frozen=True)
class CatalogueRow:
    update: PatchUpdate
    counts: Counts


CATALOGUE_SORTS = {"needing": lambda row: (-row.counts.needing, row.update.identifier.lower()),
                   "failed": lambda row: (-row.counts.failed, row.update.identifier.lower()),
                   "name": lambda row: (row.update.title.lower(), row.update.version),
                   "newest": lambda row: (-row.update.first_seen_at.timestamp(), row.update.identifier.lower())}
# The same orders in SQL, for a reader who sees every company (the fleet-wide counts are columns).
CATALOGUE_ORDERS = {"needing": ("-devices_needing", "identifier"), "failed": ("-devices_failed", "identifier"),
                    "name": ("title", "version"), "newest": ("-first_seen_at", "identifier")}


def catalogue(*, actor: Actor, search: str = "", category: str = "", severity: str = "", source: str = "",
              only_needed: bool = True, sort: str = "needing") -> list[CatalogueRow] | QuerySet[PatchUpdate]:
    """The catalogue as the actor sees it, filtered and sorted (by devices needing it, by default): a lazy
    QuerySet of updates for a reader who sees every company (their counts are the stored fleet-wide ones),
    rows with counts of their own devices for anyone else."""
    rows = updates_for(actor=actor)
    for word in search.split()[:5]:
        rows = rows.filter(Q(identifier__icontains=word) | Q(title__icontains=word) | Q(version__icontains=word))
    if category:
        rows = rows.filter(category=category)
    if severity:
        rows = rows.filter(severity=severity)
    if source:
        rows = rows.filter(source=source)
    if actor.sees_all_companies:
        if only_needed:
            rows = rows.filter(Q(devices_needing__gt=0) | Q(devices_failed__gt=0))
        return rows.order_by(*CATALOGUE_ORDERS.get(sort, CATALOGUE_ORDERS["needing"]))
    counts = update_counts(actor=actor)
    if only_needed:
        rows = rows.filter(pk__in=[pk for pk, found in counts.items() if found.needing or found.failed])
    found = [CatalogueRow(update, counts.get(update.pk, Counts())) for update in rows]
    return sorted(found, key=CATALOGUE_SORTS.get(sort, CATALOGUE_SORTS["needing"]))


def catalogue_row(update: PatchUpdate | CatalogueRow) -> CatalogueRow:
    """A catalogue entry with its counts (the stored fleet-wide ones for a bare update)."""
    if isinstance(update, CatalogueRow):
        return update
    return CatalogueRow(update, Counts(update.devices_needing, update.devices_installed, update.devices_failed))


@dataclass(frozen=True)
class DevicePatchView:
    """A device's patching: the policy, each needed update with its verdict, outcomes, runs and the summary."""

    policy: PatchPolicy | None
    updates: list[tuple[PendingPatch, Verdict]]
    outcomes: list[PatchOutcome]
    runs: list[PatchRun]
    status: DevicePatchStatus | None
    decisions: dict[int, PatchApproval]


def device_patching(*, actor: Actor, device: Device, now: datetime | None = None) -> DevicePatchView:
    """The patch view of a device the actor sees (refused, as missing, for one they do not)."""
    if not visible_to(Device.objects.filter(pk=device.pk), actor).exists():
        raise Device.DoesNotExist("No such device.")
    found = next(evaluate(device_ids=[device.pk], now=now or timezone.now()), None)
    pending = {row.update_id: row for row in PendingPatch.objects.filter(device=device).select_related("update")}
    verdicts = [] if found is None else found.verdicts
    updates = [(pending[facts.pk], verdict) for facts, verdict in verdicts if facts.pk in pending]
    return DevicePatchView(
        policy=found.policy if found else None,
        updates=sorted(updates, key=lambda pair: (pair[1].state, pair[0].update.identifier.lower())),
        outcomes=list(outcomes_for(actor=actor).filter(device=device).order_by("-at")[:200]),
        runs=list(patch_runs_for(actor=actor).filter(device=device)[:20]),
        status=patch_statuses_for(actor=actor).filter(device=device).first(),
        decisions={row.update_id: row for row in approvals_for(actor=actor).filter(device=device)})


def devices_needing(*, actor: Actor, update: PatchUpdate) -> QuerySet[Device]:
    """The actor's devices that need ``update``."""
    return visible_to(Device.objects.select_related("company", "site"), actor).filter(pending_patches__update=update)
