"""Connectors import into many companies: only administrators who see every company see them."""

from __future__ import annotations

from django.db.models import QuerySet

from connectors.models import Connector, ExternalRecord, SyncRun
from portal.access import Actor, is_msp_admin


def connectors_for(*, actor: Actor) -> QuerySet[Connector]:
    return Connector.objects.all() if is_msp_admin(actor) else Connector.objects.none()


def sync_runs_for(*, actor: Actor) -> QuerySet[SyncRun]:
    return SyncRun.objects.all() if is_msp_admin(actor) else SyncRun.objects.none()


def external_records_for(*, actor: Actor) -> QuerySet[ExternalRecord]:
    return ExternalRecord.objects.all() if is_msp_admin(actor) else ExternalRecord.objects.none()


def conflicts_for(*, actor: Actor) -> QuerySet[ExternalRecord]:
    return external_records_for(actor=actor).exclude(conflict="")
