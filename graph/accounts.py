"""GraphQL for users (read; administrators see all), one's own API tokens, and the audit log."""

from __future__ import annotations

from datetime import datetime

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, words_matching
from graph.context import actor_from
from graph.cost import LIST_BOUND
from graph.errors import MutationError, Payload, attempt, lookup
from graph.scoping import Visible
from graph.tenancy import CompanyNode
from portal.accounts import selectors, services
from portal.accounts.models import APIToken, User
from portal.audit.models import AuditEvent
from portal.tenancy.selectors import companies_for


@strawberry_django.type(User, name="User")
class UserNode(Visible, relay.Node):
    """A person who signs in; administrators who see every company see all users, others only themselves."""

    username: auto
    email: auto
    role: auto
    all_companies: auto
    is_active: auto
    last_login: datetime | None
    date_joined: datetime

    @strawberry_django.field(description=f"Companies this user may see, as far as you may see them (the first "
                                         f"{LIST_BOUND} by name; the companies list pages through all).")
    def companies(self, info: Info) -> list[CompanyNode]:
        return list(companies_for(actor=actor_from(info)).filter(members=self.pk).order_by("name", "pk")[:LIST_BOUND])


@strawberry_django.type(APIToken, name="ApiToken")
class ApiTokenNode(Visible, relay.Node):
    """One of your API tokens (its secret is never readable)."""

    name: auto
    key_id: auto
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@strawberry_django.filter_type(AuditEvent, lookups=True)
class AuditEventFilter:
    action: auto
    object_type: auto
    created_at: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return words_matching(value, "actor_label", "action", "object_repr", prefix=prefix)


@strawberry_django.order_type(AuditEvent)
class AuditEventOrder:
    created_at: auto
    action: auto


@strawberry_django.type(AuditEvent, name="AuditEvent", filters=AuditEventFilter, ordering=AuditEventOrder)
class AuditEventNode(Visible, relay.Node):
    """A write to the fleet: who did what to which object, with before and after."""

    created_at: datetime
    actor_label: auto
    via_token: auto
    action: auto
    object_type: auto
    object_id: auto
    object_repr: auto
    before: JSON | None
    after: JSON | None
    ip_address: str | None
    company: CompanyNode | None


@strawberry.type
class AccountsQuery:
    users: DjangoListConnection[UserNode] = strawberry_django.connection(max_results=MAX_PAGE)
    api_tokens: DjangoListConnection[ApiTokenNode] = strawberry_django.connection(max_results=MAX_PAGE)
    audit_events: DjangoListConnection[AuditEventNode] = strawberry_django.connection(max_results=MAX_PAGE)

    @strawberry_django.field(description="Who you are acting as.")
    def me(self, info: Info) -> UserNode | None:
        actor = actor_from(info)
        return selectors.users_for(actor=actor).filter(pk=actor.user_id).first()


@strawberry.type
class CreatedApiToken:
    node: ApiTokenNode | None = None
    token: str | None = strawberry.field(default=None, description="The token itself: shown this once only.")
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry_django.input(APIToken)
class ApiTokenCreateInput:
    name: auto
    expires_at: auto = None


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(description="Create an API token acting as you; the token is returned once.")
    def create_api_token(self, info: Info, input: ApiTokenCreateInput) -> CreatedApiToken:
        issued, errors = attempt(lambda: services.create_api_token(
            actor=actor_from(info), name=input.name, expires_at=input.expires_at))
        if issued is None:
            return CreatedApiToken(errors=errors)
        return CreatedApiToken(node=issued.token, token=issued.plaintext)

    @strawberry.mutation(description="Revoke one of your API tokens at once.")
    def revoke_api_token(self, info: Info, input: NodeInput) -> Payload[ApiTokenNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.revoke_api_token(
            actor=actor, token=lookup(selectors.api_tokens_of(actor=actor), input.id, type_name="ApiToken")))
        return Payload(node=node, errors=errors)
