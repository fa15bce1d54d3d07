"""Reads of devices, always scoped to the actor."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor, rows_for_system, visible_to
from portal.inventory.models import (
    AgentCredential,
    Device,
    DeviceInventory,
    DeviceService,
    EnrollmentToken,
    InstalledSoftware,
    InventoryChange,
    MetricSample,
    PendingPatch,
)


def devices_for(*, actor: Actor) -> QuerySet[Device]:
    return visible_to(Device.objects.select_related("company", "site", "group"), actor)


def enrollment_tokens_for(*, actor: Actor) -> QuerySet[EnrollmentToken]:
    return visible_to(EnrollmentToken.objects.select_related("company", "site", "group"), actor)


def inventory_for(*, actor: Actor) -> QuerySet[DeviceInventory]:
    return visible_to(DeviceInventory.objects.all(), actor)


def software_for(*, actor: Actor) -> QuerySet[InstalledSoftware]:
    return visible_to(InstalledSoftware.objects.all(), actor)


def services_for(*, actor: Actor) -> QuerySet[DeviceService]:
    return visible_to(DeviceService.objects.all(), actor)


def pending_patches_for(*, actor: Actor) -> QuerySet[PendingPatch]:
    return visible_to(PendingPatch.objects.all(), actor)


def inventory_changes_for(*, actor: Actor) -> QuerySet[InventoryChange]:
    return visible_to(InventoryChange.objects.all(), actor)


def metric_samples_for(*, actor: Actor) -> QuerySet[MetricSample]:
    return visible_to(MetricSample.objects.all(), actor)


def connectable_agent_count() -> int:
    """System read (no actor): agents holding a live token, i.e. how many may reconnect at once."""
    return rows_for_system(AgentCredential).filter(revoked_at__isnull=True).count()
