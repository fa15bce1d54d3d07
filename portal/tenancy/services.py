"""Writes to companies, sites, groups and contacts. Each is audited and published."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from portal.access import Actor, Role, ensure_visible, require_role
from portal.tenancy.models import Company, Contact, Group, Site
from portal.writes import delete_row, save_changes, save_new

# ``external_ids`` are not in these: they are written by connectors only (they say which upstream record a
# row is, and a Pulseway run goes where they point), never by a person through a form or the API.
COMPANY_FIELDS = ("name", "account_number", "notes")
SITE_FIELDS = ("name", "description", "address", "contact_phone", "contact_email")
GROUP_FIELDS = ("name", "notes")
CONTACT_FIELDS = ("name", "email", "phone", "job_title")


@transaction.atomic
def create_company(*, actor: Actor, name: str, account_number: str | None = None, notes: str = "") -> Company:
    """Add a client company; a scoped admin gets it added to their own scope."""
    require_role(actor, Role.ADMIN)
    company = save_new(actor=actor, instance=Company(
        name=name, account_number=account_number, notes=notes))
    if actor.company_ids is not None and actor.user_id is not None:
        company.members.add(actor.user_id)
    return company


@transaction.atomic
def update_company(*, actor: Actor, company: Company, **changes: Any) -> Company:
    """Change a company's own fields."""
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=company.pk)
    return save_changes(actor=actor, instance=company, changes=changes, editable=COMPANY_FIELDS)


@transaction.atomic
def delete_company(*, actor: Actor, company: Company) -> None:
    """Delete a company with its sites, groups, contacts and devices."""
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=company.pk)
    delete_row(actor=actor, instance=company)


@transaction.atomic
def create_site(*, actor: Actor, company: Company, name: str, description: str = "", address: str = "",
                contact_phone: str = "", contact_email: str = "") -> Site:
    """Add a site to a company."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=company.pk)
    return save_new(actor=actor, instance=Site(
        company=company, name=name, description=description, address=address, contact_phone=contact_phone,
        contact_email=contact_email))


@transaction.atomic
def update_site(*, actor: Actor, site: Site, **changes: Any) -> Site:
    """Change a site's own fields (a site never moves to another company)."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    return save_changes(actor=actor, instance=site, changes=changes, editable=SITE_FIELDS)


@transaction.atomic
def delete_site(*, actor: Actor, site: Site) -> None:
    """Delete a site with its groups and devices."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    delete_row(actor=actor, instance=site)


@transaction.atomic
def create_group(*, actor: Actor, site: Site, name: str, notes: str = "") -> Group:
    """Add a group to a site."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    return save_new(actor=actor, instance=Group(site=site, name=name, notes=notes))


@transaction.atomic
def update_group(*, actor: Actor, group: Group, **changes: Any) -> Group:
    """Change a group's own fields."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=group.site.company_id)
    return save_changes(actor=actor, instance=group, changes=changes, editable=GROUP_FIELDS)


@transaction.atomic
def delete_group(*, actor: Actor, group: Group) -> None:
    """Delete a group; its devices stay in the site, ungrouped."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=group.site.company_id)
    delete_row(actor=actor, instance=group)


@transaction.atomic
def create_contact(*, actor: Actor, company: Company, name: str, email: str = "", phone: str = "",
                   job_title: str = "") -> Contact:
    """Add a contact person to a company."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=company.pk)
    return save_new(actor=actor, instance=Contact(
        company=company, name=name, email=email, phone=phone, job_title=job_title))


@transaction.atomic
def update_contact(*, actor: Actor, contact: Contact, **changes: Any) -> Contact:
    """Change a contact's own fields."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=contact.company_id)
    return save_changes(actor=actor, instance=contact, changes=changes, editable=CONTACT_FIELDS)


@transaction.atomic
def delete_contact(*, actor: Actor, contact: Contact) -> None:
    """Delete a contact."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=contact.company_id)
    delete_row(actor=actor, instance=contact)
