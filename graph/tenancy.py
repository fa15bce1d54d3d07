"""GraphQL for companies, sites, groups and contacts: types, filters, ordering and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import UNSET, auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.context import actor_from
from graph.errors import DeletePayload, Payload, attempt, id_filter, lookup
from graph.inputs import changes_from
from graph.scoping import Visible
from portal.tenancy import selectors, services
from portal.tenancy.models import Company, Contact, Group, Site

if TYPE_CHECKING:
    from graph.inventory import DeviceNode

DeviceRef = Annotated["DeviceNode", strawberry.lazy("graph.inventory")]
MAX_PAGE = 100


def _words(value: str, *fields: str, prefix: str) -> Q:
    condition = Q()
    for word in value.split():
        any_field = Q()
        for name in fields:
            any_field |= Q(**{f"{prefix}{name}__icontains": word})
        condition &= any_field
    return condition


@strawberry_django.filter_type(Company, lookups=True)
class CompanyFilter:
    name: auto
    account_number: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        """Every word appears in the name, account number or notes."""
        return _words(value, "name", "account_number", "notes", prefix=prefix)


@strawberry_django.order_type(Company)
class CompanyOrder:
    name: auto
    account_number: auto
    created_at: auto


@strawberry_django.filter_type(Site, lookups=True)
class SiteFilter:
    name: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return _words(value, "name", "description", "address", prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)


@strawberry_django.order_type(Site)
class SiteOrder:
    name: auto
    created_at: auto


@strawberry_django.filter_type(Group, lookups=True)
class GroupFilter:
    name: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return _words(value, "name", "notes", prefix=prefix)

    @strawberry_django.filter_field
    def site(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Site", column="site_id", prefix=prefix)


@strawberry_django.order_type(Group)
class GroupOrder:
    name: auto
    created_at: auto


@strawberry_django.filter_type(Contact, lookups=True)
class ContactFilter:
    name: auto
    email: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return _words(value, "name", "email", "phone", "job_title", prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)


@strawberry_django.order_type(Contact)
class ContactOrder:
    name: auto
    email: auto


@strawberry_django.type(Company, name="Company", filters=CompanyFilter, ordering=CompanyOrder)
class CompanyNode(Visible, relay.Node):
    """A client company of the MSP."""

    name: auto
    account_number: auto
    notes: auto
    external_ids: JSON = strawberry_django.field(description="Ids of this record in other systems, written by "
                                                            "connectors only (read-only here).")
    created_at: datetime
    updated_at: datetime
    sites: DjangoListConnection[SiteNode] = strawberry_django.connection(max_results=MAX_PAGE)
    contacts: DjangoListConnection[ContactNode] = strawberry_django.connection(max_results=MAX_PAGE)
    devices: DjangoListConnection[DeviceRef] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry_django.type(Site, name="Site", filters=SiteFilter, ordering=SiteOrder)
class SiteNode(Visible, relay.Node):
    """A location of a company."""

    name: auto
    description: auto
    address: auto
    contact_phone: auto
    contact_email: auto
    external_ids: JSON = strawberry_django.field(description="Ids of this record in other systems, written by "
                                                            "connectors only (read-only here).")
    created_at: datetime
    updated_at: datetime
    company: CompanyNode
    groups: DjangoListConnection[GroupNode] = strawberry_django.connection(max_results=MAX_PAGE)
    devices: DjangoListConnection[DeviceRef] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry_django.type(Group, name="Group", filters=GroupFilter, ordering=GroupOrder)
class GroupNode(Visible, relay.Node):
    """A set of devices within a site."""

    name: auto
    notes: auto
    external_ids: JSON = strawberry_django.field(description="Ids of this record in other systems, written by "
                                                            "connectors only (read-only here).")
    created_at: datetime
    updated_at: datetime
    site: SiteNode
    devices: DjangoListConnection[DeviceRef] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry_django.type(Contact, name="Contact", filters=ContactFilter, ordering=ContactOrder)
class ContactNode(Visible, relay.Node):
    """A person at a client company."""

    name: auto
    email: auto
    phone: auto
    job_title: auto
    external_ids: JSON = strawberry_django.field(description="Ids of this record in other systems, written by "
                                                            "connectors only (read-only here).")
    created_at: datetime
    updated_at: datetime
    company: CompanyNode


@strawberry.type
class TenancyQuery:
    companies: DjangoListConnection[CompanyNode] = strawberry_django.connection(max_results=MAX_PAGE)
    sites: DjangoListConnection[SiteNode] = strawberry_django.connection(max_results=MAX_PAGE)
    groups: DjangoListConnection[GroupNode] = strawberry_django.connection(max_results=MAX_PAGE)
    contacts: DjangoListConnection[ContactNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry.input
class CompanyCreateInput:
    name: str
    account_number: str | None = None
    notes: str = ""


@strawberry.input
class CompanyUpdateInput:
    id: relay.GlobalID
    name: str | None = UNSET
    account_number: str | None = UNSET
    notes: str | None = UNSET


@strawberry.input
class SiteCreateInput:
    company: relay.GlobalID
    name: str
    description: str = ""
    address: str = ""
    contact_phone: str = ""
    contact_email: str = ""


@strawberry.input
class SiteUpdateInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    address: str | None = UNSET
    contact_phone: str | None = UNSET
    contact_email: str | None = UNSET


@strawberry.input
class GroupCreateInput:
    site: relay.GlobalID
    name: str
    notes: str = ""


@strawberry.input
class GroupUpdateInput:
    id: relay.GlobalID
    name: str | None = UNSET
    notes: str | None = UNSET


@strawberry.input
class ContactCreateInput:
    company: relay.GlobalID
    name: str
    email: str = ""
    phone: str = ""
    job_title: str = ""


@strawberry.input
class ContactUpdateInput:
    id: relay.GlobalID
    name: str | None = UNSET
    email: str | None = UNSET
    phone: str | None = UNSET
    job_title: str | None = UNSET


@strawberry.input
class DeleteInput:
    id: relay.GlobalID


def _deleted(info: Info, rows_for, type_name: str, delete, noun: str, global_id: relay.GlobalID) -> DeletePayload:
    actor = actor_from(info)

    def write() -> relay.GlobalID:
        delete(actor=actor, **{noun: lookup(rows_for(actor=actor), global_id, type_name=type_name)})
        return global_id

    deleted, errors = attempt(write)
    return DeletePayload(deleted_id=deleted, errors=errors)


@strawberry.type
class TenancyMutation:
    @strawberry.mutation(description="Add a client company (admins).")
    def create_company(self, info: Info, input: CompanyCreateInput) -> Payload[CompanyNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_company(
            actor=actor, name=input.name, account_number=input.account_number, notes=input.notes))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a company's fields; omitted fields keep their value (admins).")
    def update_company(self, info: Info, input: CompanyUpdateInput) -> Payload[CompanyNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_company(
            actor=actor, company=lookup(selectors.companies_for(actor=actor), input.id, type_name="Company"),
            **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a company with everything in it (admins).")
    def delete_company(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted(info, selectors.companies_for, "Company", services.delete_company, "company", input.id)

    @strawberry.mutation(description="Add a site to a company (operators).")
    def create_site(self, info: Info, input: SiteCreateInput) -> Payload[SiteNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_site(
            actor=actor,
            company=lookup(selectors.companies_for(actor=actor), input.company, type_name="Company",
                           field="company"),
            **changes_from(input, exclude={"company"})))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a site's fields (operators).")
    def update_site(self, info: Info, input: SiteUpdateInput) -> Payload[SiteNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_site(
            actor=actor, site=lookup(selectors.sites_for(actor=actor), input.id, type_name="Site"),
            **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a site with its groups and devices (operators).")
    def delete_site(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted(info, selectors.sites_for, "Site", services.delete_site, "site", input.id)

    @strawberry.mutation(description="Add a group to a site (operators).")
    def create_group(self, info: Info, input: GroupCreateInput) -> Payload[GroupNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_group(
            actor=actor, site=lookup(selectors.sites_for(actor=actor), input.site, type_name="Site", field="site"),
            **changes_from(input, exclude={"site"})))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a group's fields (operators).")
    def update_group(self, info: Info, input: GroupUpdateInput) -> Payload[GroupNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_group(
            actor=actor, group=lookup(selectors.groups_for(actor=actor), input.id, type_name="Group"),
            **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a group; its devices stay in the site (operators).")
    def delete_group(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted(info, selectors.groups_for, "Group", services.delete_group, "group", input.id)

    @strawberry.mutation(description="Add a contact to a company (operators).")
    def create_contact(self, info: Info, input: ContactCreateInput) -> Payload[ContactNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_contact(
            actor=actor,
            company=lookup(selectors.companies_for(actor=actor), input.company, type_name="Company",
                           field="company"),
            **changes_from(input, exclude={"company"})))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a contact's fields (operators).")
    def update_contact(self, info: Info, input: ContactUpdateInput) -> Payload[ContactNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_contact(
            actor=actor, contact=lookup(selectors.contacts_for(actor=actor), input.id, type_name="Contact"),
            **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a contact (operators).")
    def delete_contact(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted(info, selectors.contacts_for, "Contact", services.delete_contact, "contact", input.id)
