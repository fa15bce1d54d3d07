"""Limits every GraphQL operation passes before any resolver (and so any SQL) runs."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import PermissionDenied
from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
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
from portal.writes import holds_nul

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


class NulCharacterRefusal(SchemaExtension):
    """Text holding a NUL character is refused before any resolver runs: PostgreSQL cannot store one, and no
    name, note or path an integrator types needs it. The services refuse it too; this says so up front, for
    every field at once, instead of per write."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        where = _variable_with_nul(context.variables or {}, "$") or (
            context.graphql_document is not None and _document_holds_nul(context.graphql_document) and "the query")
        if where:
            context.pre_execution_errors = [GraphQLError(f"Text may not contain a NUL character (in {where}).")]
        yield


def _variable_with_nul(value: object, path: str) -> str | None:
    """The path of the first variable value holding a NUL (``$input.name``), or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = _variable_with_nul(item, f"{path}{key}" if path == "$" else f"{path}.{key}")
            if found or (isinstance(key, str) and "\x00" in key):
                return found or path
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _variable_with_nul(item, f"{path}[{index}]")
            if found:
                return found
    elif holds_nul(value):
        return path
    return None


def _document_holds_nul(document: DocumentNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: object) -> None:
            nonlocal found
            found = found or "\x00" in node.value

    visit(document, Finder())
    return found


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
        NulCharacterRefusal,
        # Tracebacks, SQL and internal messages never leave the server; they are logged instead.
        lambda: MaskErrors(should_mask_error=is_internal_error, error_message="Internal error; it has been logged."),
    ]
