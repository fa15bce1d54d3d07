"""GraphQL for alert routing: a policy's routes (email, Slack, webhook, script on the device) and each alert's
notifications with their attempts. A route's URL is a secret: never returned, only whether one is stored."""

from __future__ import annotations

from datetime import datetime

import strawberry
import strawberry_django
from strawberry import auto, relay
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from connectors.selectors import connectors_for
from graph.common import MAX_PAGE, NodeInput, delete_node, sent_fields
from graph.context import actor_from
from graph.errors import DeletePayload, Payload, attempt, lookup
from graph.scoping import Visible
from monitoring import alert_routing
from monitoring.alert_routing import may_change_route
from monitoring.models import AlertNotification, AlertRoute
from monitoring.selectors import alert_routes_for
from portal.actions.selectors import scripts_for
from portal.policies.selectors import policies_for


@strawberry_django.type(AlertRoute, name="AlertRoute")
class AlertRouteNode(Visible, relay.Node):
    name: auto
    kind: auto
    min_severity: auto
    on_open: auto
    on_resolve: auto
    renotify_minutes: auto
    enabled: auto

    @strawberry_django.field(only=["emails", "policy_id"], description="Email: the addresses (shown to those who "
                                                                       "may change the route).")
    def emails(self, info: Info) -> list[str]:
        return list(self.emails or []) if may_change_route(actor_from(info), self) else []

    @strawberry_django.field(only=["url"], description="Whether a webhook URL is stored (it is never shown).")
    def has_url(self) -> bool:
        return bool(self.url)


@strawberry_django.type(AlertNotification, name="AlertNotification")
class AlertNotificationNode(Visible, relay.Node):
    """One event of an alert sent (or being retried) through one route."""

    route_label: auto
    event: auto
    status: auto
    attempts: auto
    next_attempt_at: datetime
    last_error: auto
    external_ref: auto
    sent_at: datetime | None
    created_at: datetime


@strawberry.type
class AlertRoutesQuery:
    alert_routes: DjangoListConnection[AlertRouteNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry.input
class AlertRouteInput:
    policy: relay.GlobalID
    name: str
    kind: str
    min_severity: str = "high"
    emails: list[str] | None = None
    url: str = strawberry.field(default="", description="Slack or webhook: the https URL (stored encrypted).")
    script: relay.GlobalID | None = None
    connector: relay.GlobalID | None = strawberry.field(default=None, description="Freshservice: the connector.")
    on_open: bool = True
    on_resolve: bool = False
    renotify_minutes: int | None = None
    enabled: bool = True


@strawberry.input
class AlertRouteUpdateInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    min_severity: str | None = strawberry.UNSET
    emails: list[str] | None = strawberry.UNSET
    url: str | None = strawberry.field(default=strawberry.UNSET, description="Empty or omitted: keep the stored one.")
    on_open: bool | None = strawberry.UNSET
    on_resolve: bool | None = strawberry.UNSET
    renotify_minutes: int | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class AlertRoutesMutation:
    @strawberry.mutation(description="Add an alert route to a policy (whoever may change the policy).")
    def create_alert_route(self, info: Info, input: AlertRouteInput) -> Payload[AlertRouteNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: alert_routing.create_route(
            actor=actor, policy=lookup(policies_for(actor=actor), input.policy, type_name="Policy", field="policy"),
            script=lookup(scripts_for(actor=actor), input.script, type_name="Script", field="script")
            if input.script else None,
            connector=lookup(connectors_for(actor=actor), input.connector, type_name="Connector", field="connector")
            if input.connector else None,
            emails=input.emails or [],
            **sent_fields(input, ("name", "kind", "min_severity", "url", "on_open", "on_resolve", "renotify_minutes",
                                  "enabled"), keep_nulls=True)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change an alert route.")
    def update_alert_route(self, info: Info, input: AlertRouteUpdateInput) -> Payload[AlertRouteNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: alert_routing.update_route(
            actor=actor, alertroute=lookup(alert_routes_for(actor=actor), input.id, type_name="AlertRoute"),
            **sent_fields(input, ("name", "min_severity", "emails", "url", "on_open", "on_resolve",
                                  "renotify_minutes", "enabled"), keep_nulls=True)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete an alert route (its past notifications stay on the alerts).")
    def delete_alert_route(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=alert_routes_for, type_name="AlertRoute", delete=alert_routing.delete_route,
                           noun="alertroute", global_id=input.id)
