"""GraphQL for automation policies: policies (a company's or the whole MSP's), where they are assigned or
excluded, and each device's effective policy (which checks watch it, and from where)."""

from __future__ import annotations

from datetime import datetime

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import auto, relay
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, changes_from, delete_node, sent_fields
from graph.context import actor_from
from graph.errors import DeletePayload, NotFound, Payload, attempt, id_filter, lookup
from graph.scoping import Visible
from portal.dynamic_groups.selectors import dynamic_groups_for
from portal.inventory.selectors import devices_for
from portal.policies import services
from portal.policies.models import Level, Policy, PolicyAssignment
from portal.policies.selectors import assignments_for, policies_by_device, policies_for
from portal.tenancy.selectors import companies_for, groups_for, sites_for

TARGET_TYPES = {"Company": (Level.COMPANY, companies_for), "Site": (Level.SITE, sites_for),
                "Group": (Level.GROUP, groups_for), "DynamicGroup": (Level.DYNAMIC_GROUP, dynamic_groups_for),
                "Device": (Level.DEVICE, devices_for)}


@strawberry_django.type(PolicyAssignment, name="PolicyAssignment")
class PolicyAssignmentNode(Visible, relay.Node):
    """Where a policy applies (or, with ``exclude``, is kept away)."""

    level: auto
    order: auto
    exclude: auto

    @strawberry_django.field(description="What it is assigned to, as people read it.")
    def target(self) -> str:
        return self.target_label


@strawberry_django.filter_type(Policy, lookups=True)
class PolicyFilter:
    name: auto
    enabled: auto

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        """A company's own policies (the whole MSP's have none)."""
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)


@strawberry_django.type(Policy, name="Policy", filters=PolicyFilter)
class PolicyNode(Visible, relay.Node):
    """A bundle of checks, one company's or (company empty) the whole MSP's."""

    name: auto
    description: auto
    enabled: auto
    company_default: bool = strawberry_django.field(description="The company's own policy, where checks made for "
                                                                "the company go.")
    created_at: datetime
    assignments: list[PolicyAssignmentNode]


@strawberry.type(description="A policy reaching a device, through which assignment.")
class AppliedPolicyType:
    policy: PolicyNode
    level: str
    order: int
    target: str


def applied_policies_of(device_id: int, info: Info) -> list[AppliedPolicyType]:
    """The policies reaching a device, most general first (a later one wins), as the caller may see them."""
    applied = policies_by_device(device_ids=[device_id]).get(device_id, [])
    policies = {policy.pk: policy for policy in policies_for(actor=actor_from(info)).filter(
        pk__in={one.policy_id for one in applied})}
    return [AppliedPolicyType(policy=policies[one.policy_id], level=one.level, order=one.order, target=one.target)
            for one in applied if one.policy_id in policies]


@strawberry.type
class PoliciesQuery:
    policies: DjangoListConnection[PolicyNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry.input
class PolicyCreateInput:
    name: str
    company: relay.GlobalID | None = strawberry.field(default=None, description="Empty: the whole MSP's policy.")
    description: str = ""
    enabled: bool = True


@strawberry.input
class PolicyUpdateInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.input(description="Apply a policy to a company, site, group, dynamic group or device (none: every "
                              "company), or with exclude keep it away from a company, site or device.")
class AssignPolicyInput:
    policy: relay.GlobalID
    target: relay.GlobalID | None = None
    order: int = 0
    exclude: bool = False


@strawberry.type
class PoliciesMutation:
    @strawberry.mutation(description="Add a policy (a company's: its admins; the whole MSP's: admins who see every "
                                     "company).")
    def create_policy(self, info: Info, input: PolicyCreateInput) -> Payload[PolicyNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_policy(
            actor=actor, company=lookup(companies_for(actor=actor), input.company, type_name="Company",
                                        field="company") if input.company else None,
            **sent_fields(input, ("name", "description", "enabled"))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Rename, describe, enable or disable a policy.")
    def update_policy(self, info: Info, input: PolicyUpdateInput) -> Payload[PolicyNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_policy(
            actor=actor, policy=lookup(policies_for(actor=actor), input.id, type_name="Policy"), **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a policy with its checks and assignments.")
    def delete_policy(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=policies_for, type_name="Policy", delete=services.delete_policy,
                           noun="policy", global_id=input.id)

    @strawberry.mutation(description="Assign a policy (admins of the target's company; every company: admins who "
                                     "see every company).")
    def assign_policy(self, info: Info, input: AssignPolicyInput) -> Payload[PolicyAssignmentNode]:
        actor = actor_from(info)

        def write() -> PolicyAssignment:
            policy = lookup(policies_for(actor=actor), input.policy, type_name="Policy", field="policy")
            if input.target is None:
                return services.assign_policy(actor=actor, policy=policy, level=Level.MSP, order=input.order,
                                              exclude=input.exclude)
            level, rows_for = TARGET_TYPES.get(input.target.type_name, (None, None))
            if rows_for is None:
                raise NotFound("target")
            target = lookup(rows_for(actor=actor), input.target, type_name=input.target.type_name, field="target")
            return services.assign_policy(actor=actor, policy=policy, level=level, target=target, order=input.order,
                                          exclude=input.exclude)

        node, errors = attempt(write)
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Remove an assignment or exclusion of a policy.")
    def delete_policy_assignment(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=assignments_for, type_name="PolicyAssignment",
                           delete=services.unassign_policy, noun="policyassignment", global_id=input.id)
