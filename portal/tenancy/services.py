"""Writes to companies, sites, groups and contacts. Each is audited and published.

Connector syncs write through these too, passing an ``Upstream`` (portal/upstream.py): the link to the
other tool's record, and no announcement per row (the sync announces what it wrote when it ends)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import transaction

from portal.access import Actor, Role, ensure_visible, require_role
from portal.tenancy.models import Company, Contact, Group, Site
from portal.upstream import Upstream, require_sync, sync_writes
from portal.writes import delete_row, save_changes, save_new

# ``external_ids`` are not in these: they are written by connector syncs only (they say which upstream record
# a row is, and a Pulseway run goes where they point), never by a person through a form or the API.
COMPANY_FIELDS = ("name", "account_number", "notes", "time_zone", "remote_consent_required", "remote_banner")
SITE_FIELDS = ("name", "description", "address", "contact_phone", "contact_email")
GROUP_FIELDS = ("name", "notes")
CONTACT_FIELDS = ("name", "email", "phone", "job_title")
_Row = TypeVar("_Row", Company, Site, Group, Contact)


def _linked(upstream: Upstream | None) -> dict[str, Any]:
    return upstream.merged_into({}) if upstream is not None else {}


def _save_changes(*, actor: Actor, instance: _Row, changes: dict[str, Any], fields: tuple[str, ...],
                  upstream: Upstream | None) -> _Row:
    require_sync(actor=actor, upstream=upstream)
    if upstream is not None:
        changes["external_ids"] = upstream.merged_into(instance.external_ids)
    return save_changes(actor=actor, instance=instance, changes=changes, announce=upstream is None,
                        editable=sync_writes(upstream=upstream, fields=fields))


@transaction.atomic
def create_company(*, actor: Actor, name: str, account_number: str | None = None, notes: str = "",
                   time_zone: str = "", remote_consent_required: bool = False, remote_banner: str = "",
                   upstream: Upstream | None = None) -> Company:
    """Add a client company; a scoped admin gets it added to their own scope."""
    require_role(actor, Role.ADMIN)
    require_sync(actor=actor, upstream=upstream)
    company = save_new(actor=actor, announce=upstream is None, instance=Company(
        name=name, account_number=account_number, notes=notes, time_zone=time_zone,
        remote_consent_required=remote_consent_required, remote_banner=remote_banner,
        external_ids=_linked(upstream)))
    if actor.company_ids is not None and actor.user_id is not None:
        company.members.add(actor.user_id)
    return company


@transaction.atomic
def update_company(*, actor: Actor, company: Company, upstream: Upstream | None = None, **changes: Any) -> Company:
    """Change a company's own fields."""
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=company.pk)
    return _save_changes(actor=actor, instance=company, changes=changes, fields=COMPANY_FIELDS, upstream=upstream)


@transaction.atomic
def delete_company(*, actor: Actor, company: Company) -> None:
    """Delete a company with its sites, groups, contacts and devices."""
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=company.pk)
    delete_row(actor=actor, instance=company)


@transaction.atomic
def create_site(*, actor: Actor, company: Company, name: str, description: str = "", address: str = "",
                contact_phone: str = "", contact_email: str = "", upstream: Upstream | None = None) -> Site:
    """Add a site to a company."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=company.pk)
    require_sync(actor=actor, upstream=upstream)
    return save_new(actor=actor, announce=upstream is None, instance=Site(
        company=company, name=name, description=description, address=address, contact_phone=contact_phone,
        contact_email=contact_email, external_ids=_linked(upstream)))


@transaction.atomic
def update_site(*, actor: Actor, site: Site, upstream: Upstream | None = None, **changes: Any) -> Site:
    """Change a site's own fields (a site never moves to another company)."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    return _save_changes(actor=actor, instance=site, changes=changes, fields=SITE_FIELDS, upstream=upstream)


@transaction.atomic
def delete_site(*, actor: Actor, site: Site) -> None:
    """Delete a site with its groups and devices."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    delete_row(actor=actor, instance=site)


@transaction.atomic
def create_group(*, actor: Actor, site: Site, name: str, notes: str = "", upstream: Upstream | None = None) -> Group:
    """Add a group to a site."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    require_sync(actor=actor, upstream=upstream)
    return save_new(actor=actor, announce=upstream is None,
                    instance=Group(site=site, name=name, notes=notes, external_ids=_linked(upstream)))


@transaction.atomic
def update_group(*, actor: Actor, group: Group, upstream: Upstream | None = None, **changes: Any) -> Group:
    """Change a group's own fields."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=group.site.company_id)
    return _save_changes(actor=actor, instance=group, changes=changes, fields=GROUP_FIELDS, upstream=upstream)


@transaction.atomic
def delete_group(*, actor: Actor, group: Group) -> None:
    """Delete a group; its devices stay in the site, ungrouped."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=group.site.company_id)
    delete_row(actor=actor, instance=group)


@transaction.atomic
def create_contact(*, actor: Actor, company: Company, name: str, email: str = "", phone: str = "",
                   job_title: str = "", upstream: Upstream | None = None) -> Contact:
    """Add a contact person to a company."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=company.pk)
    require_sync(actor=actor, upstream=upstream)
    return save_new(actor=actor, announce=upstream is None, instance=Contact(
        company=company, name=name, email=email, phone=phone, job_title=job_title, external_ids=_linked(upstream)))


@transaction.atomic
def update_contact(*, actor: Actor, contact: Contact, upstream: Upstream | None = None, **changes: Any) -> Contact:
    """Change a contact's own fields."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=contact.company_id)
    return _save_changes(actor=actor, instance=contact, changes=changes, fields=CONTACT_FIELDS, upstream=upstream)


@transaction.atomic
def delete_contact(*, actor: Actor, contact: Contact) -> None:
    """Delete a contact."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=contact.company_id)
    delete_row(actor=actor, instance=contact)
