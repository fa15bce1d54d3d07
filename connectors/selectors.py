"""Connectors import into many companies: only administrators who see every company see them."""

from __future__ import annotations

from django.db.models import QuerySet

from connectors.models import Connector, ExternalRecord, SyncRun
from portal.access import Actor, Role


def _msp_wide(actor: Actor) -> bool:
    return actor is not None and actor.sees_all_companies and actor.has_role(Role.ADMIN)


def connectors_for(*, actor: Actor) -> QuerySet[Connector]:
    return Connector.objects.all() if _msp_wide(actor) else Connector.objects.none()


def sync_runs_for(*, actor: Actor) -> QuerySet[SyncRun]:
    return SyncRun.objects.all() if _msp_wide(actor) else SyncRun.objects.none()


def external_records_for(*, actor: Actor) -> QuerySet[ExternalRecord]:
    return ExternalRecord.objects.all() if _msp_wide(actor) else ExternalRecord.objects.none()
