"""Upserts of the fleet's hierarchy shared by every vendor: companies, sites, groups, devices, contacts.

First sight links to what is already there instead of duplicating it: a company of the same name, a
device of the same hostname in the same company. When another source already holds that record (another
connector, or the Fleetwatch agent for a device it reports itself), the item is a conflict: shown on the
connector page, never overwritten silently. Records never move between companies in a sync; an item
that would is an item error that names what to do.

Every write goes through the services people use (validated, audited as the run's actor, "via Pulseway
sync, run 12"), passing the upstream link only a sync may write (portal/upstream.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.engine import Kind, SyncContext
from portal.access import rows_for_system
from portal.inventory.models import AgentCredential, Device, DeviceStatus, OsType
from portal.inventory.services import create_device, update_device
from portal.inventory.telemetry import join_addresses
from portal.tenancy.models import Company, Contact, Group, Site
from portal.tenancy.services import (
    create_company,
    create_contact,
    create_group,
    create_site,
    update_company,
    update_contact,
    update_group,
    update_site,
)
from portal.upstream import Upstream


def _missing(what: str, external_id: Any) -> Any:
    raise LookupError(f"its {what} {external_id!r} is not known (not synced, or it failed)")


def _stays_in_company(row: Site | Contact | Device, company_id: int | None, *, what: str, advice: str) -> None:
    if company_id is not None and row.company_id != company_id:
        raise ValueError(f"upstream it now belongs to another company than “{row.company}”; {what} do not move "
                         f"between companies in a sync: {advice}")


def upsert_company(context: SyncContext, *, external_id: Any, name: str, source: str) -> None:
    name = (name or "").strip()[:200] or f"{source} {external_id}"
    upstream = Upstream(source=source, external_id=str(external_id))

    def find_existing() -> tuple[int, str] | None:
        # One client is often in several tools (its Pulseway organization, its Freshservice department):
        # sharing a company is no conflict, so no holder is named.
        company = rows_for_system(Company).filter(name__iexact=name).order_by("pk").first()
        return None if company is None else (company.pk, "")

    context.upsert(
        kind=Kind.COMPANY, external_id=external_id, label=name, values={"name": name},
        create=lambda: create_company(actor=context.actor, name=name, upstream=upstream),
        update=lambda pk: update_company(actor=context.actor, company=rows_for_system(Company).get(pk=pk), name=name,
                                         upstream=upstream),
        find_existing=find_existing)


def upsert_site(context: SyncContext, *, external_id: Any, name: str, company_external_id: Any, source: str,
                phone: str = "", email: str = "", description: str = "") -> None:
    company_id = context.object_id(Kind.COMPANY, company_external_id)
    values = {"name": (name or "")[:200], "company_id": company_id, "phone": (phone or "")[:50],
              "email": email or "", "description": description or ""}
    upstream = Upstream(source=source, external_id=str(external_id))
    fields = {"name": values["name"], "contact_phone": values["phone"], "contact_email": values["email"],
              "description": values["description"]}

    def create() -> Site:
        if company_id is None:
            _missing("organization", company_external_id)
        return create_site(actor=context.actor, company=context.row(Company, company_id), **fields,
                           upstream=upstream)

    def update(pk: int) -> None:
        site = rows_for_system(Site).select_related("company").get(pk=pk)
        _stays_in_company(site, company_id, what="sites",
                          advice="map this site to a site of the new company, or move it by hand")
        update_site(actor=context.actor, site=site, **fields, upstream=upstream)

    def find_existing() -> tuple[int, str] | None:
        # Site names are unique within a company: a site of that name is the same place, shared like companies.
        if not company_id:
            return None
        site = rows_for_system(Site).filter(company_id=company_id, name__iexact=values["name"]).first()
        return None if site is None else (site.pk, "")

    context.upsert(kind=Kind.SITE, external_id=external_id, label=values["name"], values=values, create=create,
                   update=update, find_existing=find_existing)


def upsert_group(context: SyncContext, *, external_id: Any, name: str, site_external_id: Any, source: str,
                 notes: str = "") -> None:
    site_id = context.object_id(Kind.SITE, site_external_id)
    values = {"name": (name or "")[:200], "site_id": site_id, "notes": notes or ""}
    upstream = Upstream(source=source, external_id=str(external_id))

    def create() -> Group:
        if site_id is None:
            _missing("site", site_external_id)
        return create_group(actor=context.actor, site=context.row(Site, site_id), name=values["name"],
                            notes=values["notes"], upstream=upstream)

    def update(pk: int) -> None:
        update_group(actor=context.actor, group=rows_for_system(Group).select_related("site").get(pk=pk),
                     name=values["name"], notes=values["notes"], upstream=upstream)

    context.upsert(kind=Kind.GROUP, external_id=external_id, label=values["name"], values=values, create=create,
                   update=update)


@dataclass
class UpstreamDevice:
    """What a vendor knows about a device, in Fleetwatch's terms."""

    external_id: str
    hostname: str
    site_external_id: Any
    source: str
    group_external_id: Any = None
    online: bool | None = None
    addresses: list[str] = field(default_factory=list)
    os_type: str = OsType.OTHER
    os_version: str = ""
    description: str = ""
    last_seen: datetime | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # vendor-specific, kept under external_ids


def upsert_device(context: SyncContext, device: UpstreamDevice) -> None:
    site_id = context.object_id(Kind.SITE, device.site_external_id)
    group_id = context.object_id(Kind.GROUP, device.group_external_id) if device.group_external_id else None
    values = {"hostname": device.hostname[:255], "site_id": site_id, "group_id": group_id, "online": device.online,
              "addresses": device.addresses, "os_type": device.os_type, "os_version": device.os_version[:255],
              "description": device.description[:255], "facts": device.facts}
    upstream = Upstream(source=device.source, external_id=device.external_id, facts=device.facts)

    def site() -> Site:
        if site_id is None:
            _missing("site", device.site_external_id)
        return context.row(Site, site_id)

    def fields() -> dict[str, Any]:
        status = DeviceStatus.UNKNOWN if device.online is None else (
            DeviceStatus.ONLINE if device.online else DeviceStatus.OFFLINE)
        group = context.row(Group, group_id) if group_id else None
        known = {"site": site(), "group": group, "hostname": values["hostname"],
                 "display_name": values["description"], "status": status,
                 "ip_addresses": join_addresses(device.addresses), "os_version": values["os_version"],
                 "os_type": device.os_type}
        return known if device.last_seen is None else {**known, "last_seen": device.last_seen}

    def create() -> Device:
        return create_device(actor=context.actor, **fields(), upstream=upstream)

    def update(pk: int) -> None:
        target = rows_for_system(Device).select_related("company").get(pk=pk)
        changes = fields()
        _stays_in_company(target, changes["site"].company_id, what="devices", advice="move it by hand")
        if changes["os_type"] == OsType.OTHER:
            del changes["os_type"]  # "other" says the vendor did not tell, not that the device changed
        status_before = target.status
        target = update_device(actor=context.actor, device=target, **changes, upstream=upstream)
        if target.status != status_before:
            context.changes.device_status_changed(pk)

    def find_existing() -> tuple[int, str] | None:
        if site_id is None:
            return None
        company_id = context.row(Site, site_id).company_id
        found = (rows_for_system(Device).filter(company_id=company_id, hostname__iexact=values["hostname"])
                 .order_by("pk").first())
        if found is None:
            return None
        if rows_for_system(AgentCredential).filter(device=found, revoked_at__isnull=True).exists():
            return found.pk, "the Fleetwatch agent on the device"
        return found.pk, context.holder_of(Kind.DEVICE, found.pk)

    context.upsert(kind=Kind.DEVICE, external_id=device.external_id, label=values["hostname"], values=values,
                   create=create, update=update, find_existing=find_existing)


def upsert_contact(context: SyncContext, *, external_id: Any, company_external_id: Any, name: str, email: str,
                   phone: str, job_title: str, source: str) -> None:
    company_id = context.object_id(Kind.COMPANY, company_external_id)
    values = {"company_id": company_id, "name": name[:200], "email": email or "", "phone": (phone or "")[:50],
              "job_title": (job_title or "")[:200]}
    upstream = Upstream(source=source, external_id=str(external_id))
    fields = {"name": values["name"], "email": values["email"], "phone": values["phone"],
              "job_title": values["job_title"]}

    def create() -> Contact:
        if company_id is None:
            _missing("department", company_external_id)
        return create_contact(actor=context.actor, company=context.row(Company, company_id), **fields,
                              upstream=upstream)

    def update(pk: int) -> None:
        contact = rows_for_system(Contact).select_related("company").get(pk=pk)
        _stays_in_company(contact, company_id, what="contacts", advice="move it by hand")
        update_contact(actor=context.actor, contact=contact, **fields, upstream=upstream)

    context.upsert(kind=Kind.CONTACT, external_id=external_id, label=values["name"], values=values, create=create,
                   update=update)
