"""The one GraphQL schema: each area contributes its query and mutation fields."""

import logging
from collections.abc import Callable
from typing import Any

import strawberry
import strawberry_django
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import FieldExtension
from strawberry.types import ExecutionContext, Info
from strawberry_django.optimizer import DjangoOptimizerExtension

from graph.accounts import AccountsMutation, AccountsQuery
from graph.actions import ActionsMutation, ActionsQuery
from graph.alert_routes import AlertRoutesMutation, AlertRoutesQuery
from graph.connectors import ConnectorsMutation, ConnectorsQuery
from graph.custom_fields import CustomFieldsMutation, CustomFieldsQuery
from graph.dynamic_groups import DynamicGroupsMutation, DynamicGroupsQuery
from graph.enrollment import EnrollmentMutation, EnrollmentQuery
from graph.errors import node_pk
from graph.hardening import hardening_extensions, is_internal_error
from graph.inventory import InventoryMutation, InventoryQuery
from graph.monitoring import MonitoringMutation, MonitoringQuery
from graph.patching import PatchingMutation, PatchingQuery
from graph.policies import PoliciesMutation, PoliciesQuery
from graph.remote import RemoteQuery
from graph.subscriptions import Subscription
from graph.tags import TagsMutation, TagsQuery
from graph.tenancy import TenancyMutation, TenancyQuery

logger = logging.getLogger(__name__)


class NodeIdCheck(FieldExtension):
    """``node(id:)`` of an id that names no type of ours, or no valid key, is null (as a row the caller may
    not see is), instead of reaching the database as a malformed key."""

    @staticmethod
    def _readable(info: Info, global_id: relay.GlobalID) -> bool:
        named = info.schema.get_type_by_name(global_id.type_name)
        return named is not None and node_pk(global_id, type_name=global_id.type_name) is not None

    def resolve(self, next_: Callable, source: Any, info: Info, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs) if self._readable(info, kwargs["id"]) else None

    async def resolve_async(self, next_: Callable, source: Any, info: Info, **kwargs: Any) -> Any:
        return await next_(source, info, **kwargs) if self._readable(info, kwargs["id"]) else None


@strawberry.type
class Query(TenancyQuery, InventoryQuery, EnrollmentQuery, AccountsQuery, ActionsQuery,
            MonitoringQuery, ConnectorsQuery, TagsQuery, CustomFieldsQuery,
            DynamicGroupsQuery, PoliciesQuery, AlertRoutesQuery, PatchingQuery, RemoteQuery):
    node: relay.Node | None = strawberry_django.node(description="Any object by its global id.",
                                                      extensions=[NodeIdCheck()])


@strawberry.type
class Mutation(TenancyMutation, InventoryMutation, EnrollmentMutation, AccountsMutation, ActionsMutation,
               MonitoringMutation, ConnectorsMutation, TagsMutation,
               CustomFieldsMutation, DynamicGroupsMutation, PoliciesMutation,
               AlertRoutesMutation, PatchingMutation):
    pass


class FleetSchema(strawberry.Schema):
    """Errors meant for the caller (validation, refusals, arguments that cannot be read) are logged as one
    line; only what failed inside the server is logged with its traceback."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        internal = [error for error in errors if is_internal_error(error)]
        for error in errors:
            if error not in internal:
                logger.debug("GraphQL request refused: %s", error.message[:300])
        super().process_errors(internal, execution_context)


schema = FleetSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[*hardening_extensions(), DjangoOptimizerExtension],
)
