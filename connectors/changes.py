"""What a finished sync tells open pages: a notice for each company whose records it changed, and, when
few devices changed, their rows and status badges as the agent's own changes are pushed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from connectors.models import ExternalRecord
from portal.access import rows_for_system
from portal.events.publish import publish
from portal.inventory.models import Device
from portal.tenancy.models import Company, Contact, Group, Site

Kind = ExternalRecord.Kind
MODELS = {Kind.COMPANY: Company, Kind.SITE: Site, Kind.GROUP: Group, Kind.DEVICE: Device, Kind.CONTACT: Contact}
# Above this many changed devices (a first import) a row each would flood every open page: the notice
# alone tells them to refresh.
LIVE_ROWS_LIMIT = 200
# Ids per query, under SQLite's limit on bound parameters.
CHUNK = 900


@dataclass
class RunChanges:
    written: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    created_devices: set[int] = field(default_factory=set)
    status_changed: set[int] = field(default_factory=set)

    def wrote(self, kind: str, object_id: int, *, created: bool = False) -> None:
        self.written[kind].add(object_id)
        if created and kind == Kind.DEVICE:
            self.created_devices.add(object_id)

    def device_status_changed(self, device_id: int) -> None:
        self.status_changed.add(device_id)


def _chunks(ids: set[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def _companies_of(changes: RunChanges) -> set[int]:
    company_ids: set[int] = set()
    for kind, ids in changes.written.items():
        model = MODELS[kind]
        for chunk in _chunks(ids):
            company_ids.update(model.objects.filter(pk__in=chunk).values_list(model.company_path, flat=True))
    return company_ids


def _device_event(changes: RunChanges, device_id: int) -> str:
    if device_id in changes.created_devices:
        return "device.created"
    return "device.status_changed" if device_id in changes.status_changed else "device.updated"


def announce_changes(changes: RunChanges) -> None:
    """Publish what the run wrote (events carry ids only; each page re-reads through its user's scope)."""
    device_ids = changes.written.get(Kind.DEVICE, set())
    if len(device_ids) <= LIVE_ROWS_LIMIT:
        for chunk in _chunks(device_ids):
            for device_id, company_id, status in (rows_for_system(Device).filter(pk__in=chunk)
                                                  .values_list("pk", "company_id", "status")):
                publish(_device_event(changes, device_id), company_id=company_id, id=device_id, status=status)
    for company_id in sorted(_companies_of(changes)):
        publish("company.imported", company_id=company_id, id=company_id)
