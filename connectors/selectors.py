"""Connectors import into many companies: only administrators who see every company see them."""

from __future__ import annotations

from django.db.models import QuerySet

from connectors.models import Connector, ExternalRecord, SyncRun
from portal.access import Actor, visible_to


def connectors_for(*, actor: Actor) -> QuerySet[Connector]:
    return visible_to(Connector.objects.all(), actor)


def sync_runs_for(*, actor: Actor) -> QuerySet[SyncRun]:
    return visible_to(SyncRun.objects.all(), actor)


def external_records_for(*, actor: Actor) -> QuerySet[ExternalRecord]:
    return visible_to(ExternalRecord.objects.all(), actor)


def conflicts_for(*, actor: Actor) -> QuerySet[ExternalRecord]:
    return external_records_for(actor=actor).exclude(conflict="")
