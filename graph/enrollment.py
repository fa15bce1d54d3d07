"""GraphQL for enrollment tokens (admins) and revoking a device's agent token (operators)."""

from __future__ import annotations

from datetime import datetime

import strawberry
import strawberry_django
from strawberry import auto, relay
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput
from graph.context import actor_from
from graph.errors import MutationError, Payload, attempt, lookup
from graph.inventory import DeviceNode
from graph.scoping import Visible
from graph.tenancy import CompanyNode, GroupNode, SiteNode
from portal.inventory import enrollment
from portal.inventory.models import EnrollmentToken
from portal.inventory.selectors import devices_for, enrollment_tokens_for
from portal.tenancy.selectors import groups_for, sites_for


@strawberry_django.type(EnrollmentToken, name="EnrollmentToken")
class EnrollmentTokenNode(Visible, relay.Node):
    """Lets agents enroll into one site; the token itself is shown only when created."""

    name: auto
    key_id: auto
    company: CompanyNode
    site: SiteNode
    group: GroupNode | None
    created_at: datetime
    expires_at: datetime | None
    max_uses: auto
    use_count: auto
    revoked_at: datetime | None

    @strawberry_django.field(description="active, expired, used up or revoked.")
    def state(self) -> str:
        return self.state


@strawberry.type
class EnrollmentQuery:
    enrollment_tokens: DjangoListConnection[EnrollmentTokenNode] = strawberry_django.connection(
        max_results=MAX_PAGE)


@strawberry_django.input(EnrollmentToken)
class EnrollmentTokenCreateInput:
    site: relay.GlobalID
    name: auto
    group: relay.GlobalID | None = None
    expires_at: auto = None
    max_uses: auto = None


@strawberry.type
class CreatedEnrollmentToken:
    node: EnrollmentTokenNode | None = None
    token: str | None = strawberry.field(default=None, description="The token itself: shown this once only.")
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class EnrollmentMutation:
    @strawberry.mutation(description="Create an enrollment token for a site (admins); returned once.")
    def create_enrollment_token(self, info: Info, input: EnrollmentTokenCreateInput) -> CreatedEnrollmentToken:
        actor = actor_from(info)

        def write() -> enrollment.IssuedEnrollmentToken:
            site = lookup(sites_for(actor=actor), input.site, type_name="Site", field="site")
            group = None if input.group is None else lookup(groups_for(actor=actor), input.group,
                                                            type_name="Group", field="group")
            return enrollment.create_enrollment_token(actor=actor, site=site, group=group, name=input.name,
                                                      expires_at=input.expires_at, max_uses=input.max_uses)

        issued, errors = attempt(write)
        if issued is None:
            return CreatedEnrollmentToken(errors=errors)
        return CreatedEnrollmentToken(node=issued.token, token=issued.plaintext)

    @strawberry.mutation(description="Stop an enrollment token from enrolling more devices (admins).")
    def revoke_enrollment_token(self, info: Info, input: NodeInput) -> Payload[EnrollmentTokenNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: enrollment.revoke_enrollment_token(
            actor=actor, token=lookup(enrollment_tokens_for(actor=actor), input.id, type_name="EnrollmentToken")))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Revoke a device's agent token: its socket closes and reconnects are refused.")
    def revoke_device_agent(self, info: Info, input: NodeInput) -> Payload[DeviceNode]:
        actor = actor_from(info)

        def write():
            device = lookup(devices_for(actor=actor), input.id, type_name="Device")
            enrollment.revoke_agent_tokens(actor=actor, device=device)
            return device

        node, errors = attempt(write)
        return Payload(node=node, errors=errors)
