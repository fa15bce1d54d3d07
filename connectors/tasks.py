"""django-q2 entry points for connectors."""

from __future__ import annotations

from connectors.models import Connector
from connectors.pulseway_actions import follow_pulseway_script as follow
from connectors.sync import run_sync
from portal.access import rows_for_system


def sync_connector(connector_id: int) -> str:
    connector = rows_for_system(Connector).filter(pk=connector_id, enabled=True).first()
    if connector is None:
        return "connector disabled or deleted"
    run = run_sync(connector=connector)
    return (f"{run.status}: {run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
            f"{run.stale} stale, {run.conflicts} conflicts, {run.failed} failed, {run.requests} requests"
            + (f" — {run.error}" if run.error else ""))


def follow_pulseway_script(action_id: int) -> str:
    return follow(action_id=action_id)
