"""django-q2 entry points for patch management; each only calls a service."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from portal.builtin_jobs import BuiltInJob
from portal.inventory.models import PatchOutcome, PatchUpdate, PendingPatch
from portal.patching.compliance import take_snapshots
from portal.patching.models import PatchApproval, PatchRun
from portal.patching.reports import send_due_reports
from portal.patching.rollout import open_patch_windows
from portal.patching.status import refresh_patch_status


def open_patch_windows_task() -> str:
    queued = open_patch_windows()
    return "another worker is opening windows" if queued is None else f"queued {queued} install action(s)"


def refresh_patch_status_task() -> str:
    return f"{refresh_patch_status()} device summaries changed"


def daily_compliance_task() -> str:
    """Today's compliance snapshot, the monthly reports that are due, and what the catalogue no longer needs."""
    snapshots = take_snapshots()
    sent = send_due_reports()
    pruned = prune_patch_history()
    return f"{snapshots} snapshot(s), {sent} report(s) sent, {pruned} old row(s) pruned"


def prune_patch_history() -> int:
    """Window runs older than the inventory history's retention, and catalogue rows nothing refers to any more."""
    cutoff = timezone.now() - timedelta(days=settings.FLEETWATCH_INVENTORY_HISTORY_DAYS)
    runs, _ = PatchRun.objects.filter(window_end__lt=cutoff).delete()
    unused = PatchUpdate.objects.filter(first_seen_at__lt=cutoff).exclude(
        Exists(PendingPatch.objects.filter(update=OuterRef("pk")))).exclude(
        Exists(PatchOutcome.objects.filter(update=OuterRef("pk")))).exclude(
        Exists(PatchApproval.objects.filter(update=OuterRef("pk"))))
    updates, _ = unused.delete()
    return runs + updates


BUILT_IN_JOBS = (
    BuiltInJob(name="patching: open patch windows", func="portal.patching.tasks.open_patch_windows_task", minutes=1,
               description="Devices whose patch window opened get one install action with their approved updates."),
    BuiltInJob(name="patching: evaluate approvals", func="portal.patching.tasks.refresh_patch_status_task",
               minutes=5, description="Each device's updates are judged by its patch policy and the technicians' "
                                      "decisions: the approval queues, the catalogue's counts and compliance."),
    BuiltInJob(name="patching: daily compliance", func="portal.patching.tasks.daily_compliance_task", minutes=1440,
               description="Takes the day's compliance snapshot, mails the monthly reports that are due and prunes "
                           "old patch history."),
)
