"""django-q2 entry points for connectors."""

from __future__ import annotations

from connectors.models import Connector
from connectors.sync import run_sync


def sync_connector(connector_id: int) -> str:
    connector = Connector.objects.filter(pk=connector_id, enabled=True).first()
    if connector is None:
        return "connector disabled or deleted"
    run = run_sync(connector=connector)
    return f"{run.status}: {run.created} created, {run.updated} updated, {run.stale} stale, {run.failed} failed"
