"""The one GraphQL schema: each area contributes its query and mutation fields."""

import strawberry
import strawberry_django
from strawberry import relay
from strawberry_django.optimizer import DjangoOptimizerExtension

from graph.accounts import AccountsMutation, AccountsQuery
from graph.actions import ActionsMutation, ActionsQuery
from graph.connectors import ConnectorsMutation, ConnectorsQuery
from graph.enrollment import EnrollmentMutation, EnrollmentQuery
from graph.hardening import hardening_extensions
from graph.inventory import InventoryMutation, InventoryQuery
from graph.monitoring import MonitoringMutation, MonitoringQuery
from graph.subscriptions import Subscription
from graph.tenancy import TenancyMutation, TenancyQuery


@strawberry.type
class Query(TenancyQuery, InventoryQuery, EnrollmentQuery, AccountsQuery, ActionsQuery,
            MonitoringQuery, ConnectorsQuery):
    node: relay.Node | None = strawberry_django.node(description="Any object by its global id.")


@strawberry.type
class Mutation(TenancyMutation, InventoryMutation, EnrollmentMutation, AccountsMutation, ActionsMutation,
               MonitoringMutation, ConnectorsMutation):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[*hardening_extensions(), DjangoOptimizerExtension],
)
