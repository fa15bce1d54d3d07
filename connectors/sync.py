"""The common sync engine: idempotent upserts keyed by (connector, kind, external id), unchanged items
left alone, vanished items marked stale (never deleted), one failing item recorded without stopping the
run, and a history row with every count."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone

from connectors.http import ConnectorError, VendorClient
from connectors.models import Connector, ExternalRecord, SyncRun, SyncStatus
from connectors.pulseway import PulsewayClient
from portal.inventory.models import Device, DeviceStatus, OsType
from portal.tenancy.models import Company, Group, Site

Kind = ExternalRecord.Kind
MAX_ITEM_ERRORS = 200


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


class SyncContext:
    def __init__(self, *, connector: Connector, run: SyncRun, client: VendorClient) -> None:
        self.connector = connector
        self.run = run
        self.client = client
        self.records = {(r.kind, r.external_id): r for r in ExternalRecord.objects.filter(connector=connector)}
        self.seen: set[tuple[str, str]] = set()

    def object_id(self, kind: str, external_id: Any) -> int | None:
        record = self.records.get((kind, str(external_id)))
        return record.object_id if record else None

    def upsert(self, *, kind: str, external_id: Any, label: str, values: dict[str, Any],
               create: Callable[[], Any], update: Callable[[int], None]) -> None:
        """Create the record, update it when the upstream values changed, or leave it (unchanged)."""
        key = (kind, str(external_id))
        self.seen.add(key)
        digest = _hash(values)
        record = self.records.get(key)
        try:
            with transaction.atomic():
                if record is None:
                    obj = create()
                    record = ExternalRecord.objects.create(connector=self.connector, kind=kind,
                                                           external_id=str(external_id), object_id=obj.pk,
                                                           label=label[:255], content_hash=digest,
                                                           last_seen_run=self.run)
                    self.records[key] = record
                    self.run.created += 1
                elif record.content_hash != digest or record.stale:
                    update(record.object_id)
                    ExternalRecord.objects.filter(pk=record.pk).update(content_hash=digest, stale=False,
                                                                       label=label[:255], last_seen_run=self.run)
                    record.content_hash, record.stale = digest, False
                    self.run.updated += 1
                else:
                    self.run.unchanged += 1
        except Exception as error:  # one bad item is recorded; the run goes on
            self.run.failed += 1
            if len(self.run.item_errors) < MAX_ITEM_ERRORS:
                self.run.item_errors.append({"kind": kind, "external_id": str(external_id), "label": label,
                                             "error": f"{type(error).__name__}: {error}"[:300]})

    def mark_vanished_stale(self) -> None:
        gone = [r.pk for key, r in self.records.items() if key not in self.seen and not r.stale]
        ExternalRecord.objects.filter(pk__in=gone).update(stale=True)
        self.run.stale = len(gone)

    def progress(self, text: str) -> None:
        """Saved as the run goes, so its page shows where a long sync is."""
        self.run.progress = text[:200]
        self.run.requests = self.client.requests
        self.run.save(update_fields=["progress", "requests", "created", "updated", "unchanged", "failed"])


def _sync_pulseway(context: SyncContext, api: PulsewayClient) -> None:
    context.progress("organizations")
    for org in api.all("organizations"):
        context.upsert(kind=Kind.COMPANY, external_id=org["Id"], label=org.get("Name", ""),
                       values={"name": org.get("Name", "")},
                       create=lambda org=org: Company.objects.create(
                           name=org["Name"], external_ids={"pulseway": str(org["Id"])}),
                       update=lambda pk, org=org: Company.objects.filter(pk=pk).update(name=org["Name"]))
    context.progress("sites")
    for site in api.all("sites"):
        company_id = context.object_id(Kind.COMPANY, site.get("ParentId"))
        if company_id is None:
            context.upsert(kind=Kind.SITE, external_id=site["Id"], label=site.get("Name", ""), values={},
                           create=lambda site=site: _missing("organization", site.get("ParentId")),
                           update=lambda pk: None)
            continue
        contact = site.get("ContactInformation") or {}
        values = {"name": site.get("Name", ""), "company_id": company_id, "phone": contact.get("Phone") or "",
                  "email": contact.get("Email") or ""}
        context.upsert(kind=Kind.SITE, external_id=site["Id"], label=site.get("Name", ""), values=values,
                       create=lambda v=values, site=site: Site.objects.create(
                           company_id=v["company_id"], name=v["name"], contact_phone=v["phone"][:50],
                           contact_email=v["email"], external_ids={"pulseway": str(site["Id"])}),
                       update=lambda pk, v=values: Site.objects.filter(pk=pk).update(
                           company_id=v["company_id"], name=v["name"], contact_phone=v["phone"][:50],
                           contact_email=v["email"]))
    context.progress("groups")
    for group in api.all("groups"):
        site_id = context.object_id(Kind.SITE, group.get("ParentSiteId"))
        values = {"name": group.get("Name", ""), "site_id": site_id, "notes": group.get("Notes") or ""}
        context.upsert(kind=Kind.GROUP, external_id=group["Id"], label=group.get("Name", ""), values=values,
                       create=lambda v=values, group=group: _missing("site", group.get("ParentSiteId"))
                       if v["site_id"] is None else Group.objects.create(
                           site_id=v["site_id"], name=v["name"], notes=v["notes"],
                           external_ids={"pulseway": str(group["Id"])}),
                       update=lambda pk, v=values: Group.objects.filter(pk=pk).update(
                           site_id=v["site_id"], name=v["name"], notes=v["notes"]))
    context.progress("devices")
    for number, summary in enumerate(api.all("devices"), start=1):
        identifier = summary["Identifier"]
        if number % 100 == 0:
            context.progress(f"devices: {number}")
        try:
            detail = api.one(f"devices/{identifier}")
        except ConnectorError as error:
            context.upsert(kind=Kind.DEVICE, external_id=identifier, label=summary.get("Name", ""), values={},
                           create=lambda error=error: _fail(error), update=lambda pk, error=error: _fail(error))
            continue
        site_id = context.object_id(Kind.SITE, summary.get("SiteId"))
        group_id = context.object_id(Kind.GROUP, summary.get("GroupId"))
        addresses = [a.get("IpV4") for a in detail.get("LocalIpAddresses") or [] if a.get("IpV4")]
        values = {"hostname": summary.get("Name", ""), "site_id": site_id, "group_id": group_id,
                  "online": bool(detail.get("IsOnline")), "ips": addresses,
                  "external_ip": detail.get("ExternalIpAddress") or "", "uptime": detail.get("Uptime") or "",
                  "client_version": detail.get("ClientVersion") or "", "description": detail.get("Description") or ""}
        context.upsert(kind=Kind.DEVICE, external_id=identifier, label=values["hostname"], values=values,
                       create=lambda v=values, identifier=identifier: _create_device(v, identifier),
                       update=lambda pk, v=values: _update_device(pk, v))


def _missing(what: str, external_id: Any) -> Any:
    raise LookupError(f"its {what} {external_id!r} is not known (not synced, or it failed)")


def _fail(error: Exception) -> Any:
    raise error


def _device_fields(values: dict[str, Any]) -> dict[str, Any]:
    site = Site.objects.get(pk=values["site_id"]) if values["site_id"] else None
    if site is None:
        raise LookupError("its site is not known (not synced, or it failed)")
    facts = {"ips": values["ips"], "external_ip": values["external_ip"], "uptime": values["uptime"],
             "client_version": values["client_version"]}
    return {"company_id": site.company_id, "site_id": site.pk, "group_id": values["group_id"],
            "hostname": values["hostname"][:255], "display_name": values["description"][:255],
            "status": DeviceStatus.ONLINE if values["online"] else DeviceStatus.OFFLINE, "facts": facts}


def _create_device(values: dict[str, Any], identifier: str) -> Device:
    fields = _device_fields(values)
    facts = fields.pop("facts")
    return Device.objects.create(os_type=OsType.OTHER, external_ids={"pulseway": identifier, "pulseway_facts": facts},
                                 **fields)


def _update_device(pk: int, values: dict[str, Any]) -> None:
    fields = _device_fields(values)
    facts = fields.pop("facts")
    device = Device.objects.get(pk=pk)
    device.external_ids = {**(device.external_ids or {}), "pulseway_facts": facts}
    for name, value in fields.items():
        setattr(device, name, value)
    device.save()


def run_sync(*, connector: Connector, client: VendorClient | None = None) -> SyncRun:
    """Run one sync now; returns its history row (also when it failed)."""
    run = SyncRun.objects.create(connector=connector)
    client = client or VendorClient(base_url=connector.base_url.rstrip("/") + "/",
                                    auth=httpx.BasicAuth(connector.token_id, connector.token_secret))
    context = SyncContext(connector=connector, run=run, client=client)
    try:
        _sync_pulseway(context, PulsewayClient(client))
        context.mark_vanished_stale()
        run.status = SyncStatus.PARTIAL if run.failed else SyncStatus.SUCCEEDED
    except ConnectorError as error:
        run.status, run.error = SyncStatus.FAILED, str(error)[:500]
    finally:
        client.close()
    run.finished_at = timezone.now()
    run.requests, run.retries, run.progress = client.requests, client.retries, "finished"
    run.save()
    Connector.objects.filter(pk=connector.pk).update(last_sync_at=run.finished_at, last_status=run.status,
                                                     last_error=run.error)
    return run
