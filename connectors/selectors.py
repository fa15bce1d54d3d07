"""Connectors import into many companies: only administrators who see every company see them. Which
connector manages a device is a system read (any operator of the device may run a Pulseway script on it)."""

from __future__ import annotations

from django.db.models import QuerySet

from connectors.models import Connector, ConnectorKind, ExternalRecord, SyncRun
from portal.access import Actor, rows_for_system, visible_to
from portal.inventory.models import Device


def connectors_for(*, actor: Actor) -> QuerySet[Connector]:
    return visible_to(Connector.objects.all(), actor)


def sync_runs_for(*, actor: Actor) -> QuerySet[SyncRun]:
    return visible_to(SyncRun.objects.all(), actor)


def external_records_for(*, actor: Actor) -> QuerySet[ExternalRecord]:
    return visible_to(ExternalRecord.objects.all(), actor)


def conflicts_for(*, actor: Actor) -> QuerySet[ExternalRecord]:
    return external_records_for(actor=actor).exclude(conflict="")


def pulseway_record_of(device: Device) -> ExternalRecord | None:
    """The enabled Pulseway connector's own record of this device (None when Pulseway does not manage it).

    The upstream device a script runs on comes from this record, which only a sync writes: never from the
    device's ``external_ids``, which would let whoever edits a device aim at another tenant's endpoint."""
    return (rows_for_system(ExternalRecord).filter(kind=ExternalRecord.Kind.DEVICE, object_id=device.pk, conflict="",
                                          stale=False, connector__kind=ConnectorKind.PULSEWAY,
                                          connector__enabled=True)
            .select_related("connector").order_by("pk").first())
