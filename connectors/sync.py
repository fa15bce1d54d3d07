"""Run one sync of a connector: its vendor module walks the API through the engine (connectors.engine),
and the run's history, the connector's state and what changed are recorded and announced."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from connectors import datto, freshservice, pulseway
from connectors.changes import announce_changes
from connectors.engine import SyncContext, announce_run
from connectors.http import ConnectorError, VendorClient
from connectors.models import Connector, ConnectorKind, SyncRun, SyncStatus
from portal.access import rows_for_system
from portal.operations.metrics import SYNC_RUNS

VENDORS = {ConnectorKind.PULSEWAY: pulseway, ConnectorKind.DATTO: datto, ConnectorKind.FRESHSERVICE: freshservice}


def _vendor(kind: str) -> Any:
    return VENDORS[kind]


def run_sync(*, connector: Connector, client: VendorClient | None = None) -> SyncRun:
    """Run one sync now; returns its history row (also when it failed)."""
    vendor = _vendor(connector.kind)
    run = rows_for_system(SyncRun).create(connector=connector, progress="starting")
    announce_run(run)
    client = client or vendor.client_for(connector)
    context = SyncContext(connector=connector, run=run, client=client)
    try:
        vendor.sync(context)
        context.mark_vanished_stale()
        run.status = SyncStatus.PARTIAL if run.failed else SyncStatus.SUCCEEDED
    except ConnectorError as error:
        run.status, run.error = SyncStatus.FAILED, str(error)[:500]
    finally:
        client.close()
    run.finished_at = timezone.now()
    run.requests, run.retries, run.progress = client.requests, client.retries, "finished"
    run.phase_done, run.phase_total = 0, None
    run.save()
    rows_for_system(Connector).filter(pk=connector.pk).update(last_sync_at=run.finished_at, last_status=run.status,
                                                     last_error=run.error)
    announce_run(run)
    announce_changes(context.changes)
    SYNC_RUNS.labels(vendor=connector.kind, result=run.status).inc()
    return run
