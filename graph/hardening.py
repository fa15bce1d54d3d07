"""Limits every GraphQL operation passes before any resolver (and so any SQL) runs."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import PermissionDenied
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from graph.cost import CostLimit, PagingArguments

# Relay nesting costs three levels a hop (field, edges, node): company → sites → groups → devices is 13.
MAX_DEPTH = 15
MAX_ALIASES = 15
MAX_TOKENS = 2000


class IntrospectionSwitch(SchemaExtension):
    """Introspection is refused unless ``FLEETWATCH_GRAPHQL_INTROSPECTION`` is on (checked per request)."""

    def on_operation(self) -> Iterator[None]:
        if not settings.FLEETWATCH_GRAPHQL_INTROSPECTION:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules, NoSchemaIntrospectionCustomRule)
        yield


def is_internal_error(error: GraphQLError) -> bool:
    """Mask anything that came from inside a resolver unless it was meant for the caller: refusals, our own
    argument errors, and values the caller sent that cannot be read (a malformed global id)."""
    original = error.original_error
    return original is not None and not isinstance(original, PermissionDenied | GraphQLError
                                                   | StrawberryInputCoercionError)


def hardening_extensions() -> list:
    return [
        CostLimit,
        PagingArguments,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        IntrospectionSwitch,
        # Tracebacks, SQL and internal messages never leave the server; they are logged instead.
        lambda: MaskErrors(should_mask_error=is_internal_error, error_message="Internal error; it has been logged."),
    ]
