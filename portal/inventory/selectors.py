"""Reads of devices, always scoped to the actor."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor, visible_to
from portal.inventory.models import (
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
