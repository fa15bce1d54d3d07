"""The common sync engine: idempotent upserts keyed by (connector, kind, external id), unchanged items
left alone, vanished items marked stale (never deleted), one failing item recorded without stopping the
run, records a person mapped or that another source holds left alone, and a history row with every
count. Each vendor module (pulseway, datto, freshservice) only walks its API and calls ``upsert``;
``connectors.sync`` runs one of them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models, transaction

from connectors.changes import RunChanges
from connectors.http import VendorClient
from connectors.models import Connector, ExternalRecord, SyncRun
from portal.access import rows_for_system, system_actor
from portal.events.groups import msp_group
from portal.events.publish import publish_to_group

Kind = ExternalRecord.Kind
_Row = TypeVar("_Row", bound=models.Model)
MAX_ITEM_ERRORS = 200
# An external record whose Fleetwatch record a person chose to keep apart: the next sync creates a new one.
UNLINKED = 0


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


class SyncContext:
    def __init__(self, *, connector: Connector, run: SyncRun, client: VendorClient) -> None:
        self.connector = connector
        self.run = run
        self.client = client
        # Who the audit log names for every record this run writes.
        self.actor = system_actor(f"via {connector.vendor_name} sync, run {run.pk}")
        self.records = {(r.kind, r.external_id): r for r in rows_for_system(ExternalRecord).filter(connector=connector)}
        self.seen: set[tuple[str, str]] = set()
        # What this run wrote, told to the dashboards when it ends (see connectors/changes.py).
        self.changes = RunChanges()
        self._rows: dict[tuple[type, int], Any] = {}

    def row(self, model: type[_Row], pk: int) -> _Row:
        """A company, site or group by id, read once per run (thousands of devices share a few sites)."""
        key = (model, pk)
        if key not in self._rows:
            self._rows[key] = rows_for_system(model).get(pk=pk)
        return self._rows[key]

    def object_id(self, kind: str, external_id: Any) -> int | None:
        record = self.records.get((kind, str(external_id)))
        return record.object_id if record and record.object_id != UNLINKED else None

    def upsert(self, *, kind: str, external_id: Any, label: str, values: dict[str, Any],
               create: Callable[[], Any], update: Callable[[int], None],
               find_existing: Callable[[], tuple[int, str] | None] | None = None) -> None:
        """Create the record, update it when the upstream values changed, or leave it (unchanged).

        ``find_existing`` (for a first sight) answers a Fleetwatch record the item already is, and who
        else holds it ("" when nobody): it is linked instead of duplicated, or flagged as a conflict.
        """
        key = (kind, str(external_id))
        self.seen.add(key)
        digest = _hash(values)
        record = self.records.get(key)
        try:
            with transaction.atomic():
                if record is None:
                    self._first_sight(key, label, digest, create, update, find_existing)
                elif record.conflict:
                    self.run.conflicts += 1
                    self._touch(record, digest, label)
                elif record.object_id == UNLINKED:
                    record.object_id = create().pk
                    self._touch(record, digest, label)
                    self.run.created += 1
                    self.changes.wrote(kind, record.object_id, created=True)
                elif record.content_hash != digest or record.stale:
                    if not record.mapped_by_user:
                        update(record.object_id)
                        self.changes.wrote(kind, record.object_id)
                    self._touch(record, digest, label)
                    self.run.updated += 1
                else:
                    self.run.unchanged += 1
        except Exception as error:  # one bad item is recorded; the run goes on
            self.item_failed(kind=kind, external_id=external_id, label=label, error=f"{type(error).__name__}: {error}")

    def item_failed(self, *, kind: str, external_id: Any, label: str, error: str) -> None:
        """Count a failed item and keep why (the first MAX_ITEM_ERRORS of them)."""
        self.run.failed += 1
        if len(self.run.item_errors) < MAX_ITEM_ERRORS:
            self.run.item_errors.append({"kind": kind, "external_id": str(external_id), "label": label,
                                         "error": error[:300]})

    def _first_sight(self, key: tuple[str, str], label: str, digest: str, create: Callable[[], Any],
                     update: Callable[[int], None],
                     find_existing: Callable[[], tuple[int, str] | None] | None) -> None:
        existing = find_existing() if find_existing is not None else None
        conflict = ""
        if existing is None:
            object_id = create().pk
            self.run.created += 1
            self.changes.wrote(key[0], object_id, created=True)
        else:
            object_id, holder = existing
            if holder:
                conflict = f"Already held by {holder}; this source does not write it until the conflict is resolved."
                self.run.conflicts += 1
            else:
                update(object_id)  # linked to the record that was already there, which takes the upstream values
                self.run.updated += 1
                self.changes.wrote(key[0], object_id)
        self.records[key] = rows_for_system(ExternalRecord).create(
            connector=self.connector, kind=key[0], external_id=key[1], object_id=object_id, label=label[:255],
            content_hash=digest, last_seen_run=self.run, conflict=conflict[:300])

    def _touch(self, record: ExternalRecord, digest: str, label: str) -> None:
        rows_for_system(ExternalRecord).filter(pk=record.pk).update(content_hash=digest, stale=False, label=label[:255],
                                                           last_seen_run=self.run, object_id=record.object_id)
        record.content_hash, record.stale = digest, False

    def skip(self) -> None:
        """An upstream item Fleetwatch has no place for (a requester in no department, …)."""
        self.run.skipped += 1

    def holder_of(self, kind: str, object_id: int) -> str:
        """Which other connector already holds a Fleetwatch record ("" when none)."""
        other = (rows_for_system(ExternalRecord).filter(kind=kind, object_id=object_id, conflict="")
                 .exclude(connector=self.connector).select_related("connector").first())
        return f"the {other.connector.vendor_name} connector “{other.connector.name}”" if other else ""

    def mark_vanished_stale(self) -> None:
        gone = [r.pk for key, r in self.records.items() if key not in self.seen and not r.stale]
        rows_for_system(ExternalRecord).filter(pk__in=gone).update(stale=True)
        self.run.stale = len(gone)

    def progress(self, phase: str, *, done: int = 0, total: int | None = None) -> None:
        """Saved and pushed as the run goes, so its page shows where a long sync is."""
        self.run.progress = phase[:200]
        self.run.phase_done, self.run.phase_total = done, total
        self.run.requests, self.run.retries = self.client.requests, self.client.retries
        self.run.save(update_fields=["progress", "phase_done", "phase_total", "requests", "retries", "created",
                                     "updated", "unchanged", "failed", "skipped", "conflicts"])
        announce_run(self.run)


def announce_run(run: SyncRun) -> None:
    publish_to_group(msp_group(), {"type": "fleet.event", "event": "syncrun.updated", "id": run.pk})
