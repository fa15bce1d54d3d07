"""GraphQL for companies, sites, groups and contacts: types, filters, ordering and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, changes_from, delete_node, words_matching
from graph.context import actor_from
from graph.custom_fields import CustomFieldCondition, custom_field_filter, values_of
from graph.errors import DeletePayload, Payload, attempt, id_filter, lookup
from graph.scoping import Visible
from portal.tenancy import selectors, services
from portal.tenancy.models import Company, Contact, Group, Site

if TYPE_CHECKING:
    from graph.inventory import DeviceNode

DeviceRef = Annotated["DeviceNode", strawberry.lazy("graph.inventory")]


@strawberry_django.filter_type(Company, lookups=True)
class CompanyFilter:
    name: auto
    account_number: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        """Every word appears in the name, account number or notes."""
        return words_matching(value, "name", "account_number", "notes", prefix=prefix)

    @strawberry_django.filter_field
    def custom_field(self, value: CustomFieldCondition, prefix: str) -> Q:
        """Companies whose custom field satisfies the condition."""
        return custom_field_filter("company", value, prefix)


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
        return words_matching(value, "name", "description", "address", prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)

    @strawberry_django.filter_field
    def custom_field(self, value: CustomFieldCondition, prefix: str) -> Q:
        """Sites whose custom field satisfies the condition."""
        return custom_field_filter("site", value, prefix)


@strawberry_django.order_type(Site)
class SiteOrder:
    name: auto
    created_at: auto


@strawberry_django.filter_type(Group, lookups=True)
class GroupFilter:
    name: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return words_matching(value, "name", "notes", prefix=prefix)

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
        return words_matching(value, "name", "email", "phone", "job_title", prefix=prefix)

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
    time_zone: auto
    remote_consent_required: auto
    remote_banner: auto
    external_ids: JSON = strawberry_django.field(description="Ids of this record in other systems, written by "
                                                            "connectors only (read-only here).")
    created_at: datetime

    @strawberry_django.field(only=["custom_fields"], description="Custom values by field name, defaults included.")
    def custom_fields(self, info: Info) -> JSON:
        return values_of(info, self, "company")

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

    @strawberry_django.field(only=["custom_fields"], description="Custom values by field name, defaults included.")
    def custom_fields(self, info: Info) -> JSON:
        return values_of(info, self, "site")

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


# Inputs are derived from the models: a field's type and description come from the model field.
# Create inputs give optional fields their empty default; update inputs (partial) leave out what is not sent.


@strawberry_django.input(Company)
class CompanyCreateInput:
    name: auto
    account_number: auto = None
    notes: auto = ""
    time_zone: auto = ""
    remote_consent_required: auto = False
    remote_banner: auto = ""


@strawberry_django.partial(Company)
class CompanyUpdateInput:
    id: relay.GlobalID
    name: auto
    account_number: auto
    notes: auto
    time_zone: auto
    remote_consent_required: auto
    remote_banner: auto


@strawberry_django.input(Site)
class SiteCreateInput:
    company: relay.GlobalID
    name: auto
    description: auto = ""
    address: auto = ""
    contact_phone: auto = ""
    contact_email: auto = ""


@strawberry_django.partial(Site)
class SiteUpdateInput:
    id: relay.GlobalID
    name: auto
    description: auto
    address: auto
    contact_phone: auto
    contact_email: auto


@strawberry_django.input(Group)
class GroupCreateInput:
    site: relay.GlobalID
    name: auto
    notes: auto = ""


@strawberry_django.partial(Group)
class GroupUpdateInput:
    id: relay.GlobalID
    name: auto
    notes: auto


@strawberry_django.input(Contact)
class ContactCreateInput:
    company: relay.GlobalID
    name: auto
    email: auto = ""
    phone: auto = ""
    job_title: auto = ""


@strawberry_django.partial(Contact)
class ContactUpdateInput:
    id: relay.GlobalID
    name: auto
    email: auto
    phone: auto
    job_title: auto


@strawberry.type
class TenancyMutation:
    @strawberry.mutation(description="Add a client company (admins).")
    def create_company(self, info: Info, input: CompanyCreateInput) -> Payload[CompanyNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_company(actor=actor, **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a company's fields; omitted fields keep their value (admins).")
    def update_company(self, info: Info, input: CompanyUpdateInput) -> Payload[CompanyNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_company(
            actor=actor, company=lookup(selectors.companies_for(actor=actor), input.id, type_name="Company"),
            **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a company with everything in it (admins).")
    def delete_company(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.companies_for, type_name="Company",
                           delete=services.delete_company, noun="company", global_id=input.id)

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
    def delete_site(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.sites_for, type_name="Site",
                           delete=services.delete_site, noun="site", global_id=input.id)

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
    def delete_group(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.groups_for, type_name="Group",
                           delete=services.delete_group, noun="group", global_id=input.id)

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
    def delete_contact(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.contacts_for, type_name="Contact",
                           delete=services.delete_contact, noun="contact", global_id=input.id)
