"""GraphQL for dynamic groups: stored filters over devices, evaluated whenever read; ``devices(filters:
{dynamicGroup: …})`` lists a group's members and ``target: {dynamicGroup: …}`` runs on them."""

from __future__ import annotations

from datetime import datetime

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, changes_from, delete_node, sent_fields
from graph.context import actor_from
from graph.errors import DeletePayload, Payload, attempt, lookup, node_pk
from graph.scoping import Visible
from portal.dynamic_groups import services
from portal.dynamic_groups.models import DynamicGroup
from portal.dynamic_groups.selectors import (
    dynamic_groups_for,
    group_condition,
    member_ids,
    members_of,
    rules_shown_to,
)
from portal.tenancy.selectors import companies_for


def dynamic_group_filter(value: relay.GlobalID, prefix: str, info: Info) -> Q:
    """Devices of a dynamic group the caller sees; an id of another type, of nothing or of a group the caller
    may not see matches nothing."""
    pk = node_pk(value, type_name="DynamicGroup")
    group = dynamic_groups_for(actor=actor_from(info)).filter(pk=pk).first() if pk is not None else None
    if group is None:
        return Q(pk__in=[])
    # Nested under another type (a company's devices), the members are matched by id.
    return Q(**{f"{prefix}pk__in": member_ids(group)}) if prefix else group_condition(group)


@strawberry_django.filter_type(DynamicGroup, lookups=True)
class DynamicGroupFilter:
    name: auto


@strawberry_django.type(DynamicGroup, name="DynamicGroup", filters=DynamicGroupFilter)
class DynamicGroupNode(Visible, relay.Node):
    """A named filter over devices (a company's, or with no company the whole MSP's), evaluated when read."""

    name: auto
    description: auto
    match: auto

    @strawberry_django.field(only=["rules", "company_id"], description="The rules: [{field, op, value}] (see the "
                                                                       "README). Null for a reader scoped to some "
                                                                       "companies reading an MSP-wide group.")
    def rules(self, info: Info) -> JSON | None:
        return rules_shown_to(actor=actor_from(info), group=self)
    created_at: datetime
    updated_at: datetime

    @strawberry_django.field(description="The company this group belongs to; null: the whole MSP's.",
                             only=["company_id"])
    def company_id(self, info: Info) -> relay.GlobalID | None:
        return relay.GlobalID("Company", str(self.company_id)) if self.company_id else None

    @strawberry_django.field(description="How many of the devices you may see match now.")
    def device_count(self, info: Info) -> int:
        return members_of(actor=actor_from(info), group=self).count()


@strawberry.type
class DynamicGroupsQuery:
    dynamic_groups: DjangoListConnection[DynamicGroupNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry.input
class DynamicGroupCreateInput:
    name: str
    company: relay.GlobalID | None = strawberry.field(default=None, description="Empty: the whole MSP's group "
                                                                               "(operators who see every company).")
    match: str = "all"
    rules: JSON | None = strawberry.field(default=None, description="[{field, op, value}] (none: every device).")
    description: str = ""


@strawberry.input
class DynamicGroupUpdateInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    match: str | None = strawberry.UNSET
    rules: JSON | None = strawberry.UNSET
    description: str | None = strawberry.UNSET


@strawberry.type
class DynamicGroupsMutation:
    @strawberry.mutation(description="Save a filter over devices under a name (operators of its company).")
    def create_dynamic_group(self, info: Info, input: DynamicGroupCreateInput) -> Payload[DynamicGroupNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_dynamic_group(
            actor=actor, company=lookup(companies_for(actor=actor), input.company, type_name="Company",
                                        field="company") if input.company else None,
            **sent_fields(input, ("name", "match", "rules", "description"))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Rename a dynamic group or change its rules.")
    def update_dynamic_group(self, info: Info, input: DynamicGroupUpdateInput) -> Payload[DynamicGroupNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_dynamic_group(
            actor=actor, dynamicgroup=lookup(dynamic_groups_for(actor=actor), input.id, type_name="DynamicGroup"),
            **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a dynamic group no schedule targets.")
    def delete_dynamic_group(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=dynamic_groups_for, type_name="DynamicGroup",
                           delete=services.delete_dynamic_group, noun="dynamicgroup", global_id=input.id)
