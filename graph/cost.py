"""What an operation may ask for before it runs: connection paging arguments checked with clear errors, and
an estimate of how many objects it would fetch, refused above a limit.

The estimate multiplies page sizes down the tree: a connection's ``edges`` cost as many objects as its
page (``first``/``last``, or the largest page when neither is given) times the objects above it; a count
(``totalCount``, ``pageInfo``) costs one per parent; a bounded list costs its bound. Three nested pages of
100 (10^6 objects) are refused; two, side by side (2 × 10^4), are fine. Variables are read, so
``first: $n`` costs what ``$n`` is.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

MAX_PAGE = 100
# Lists that are not connections are bounded by their resolvers (a profile's tasks, a user's companies).
LIST_BOUND = 100
MAX_COST = 50_000
PAGING = ("first", "last", "before", "after")
CURSOR_PREFIX = "arrayconnection:"


def _unwrapped(graphql_type: Any) -> tuple[Any, bool]:
    """The named type under NonNull/List wrappers, and whether a list was among them."""
    is_list = False
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(graphql_type, GraphQLList)
        graphql_type = graphql_type.of_type
    return graphql_type, is_list


def _is_connection(graphql_type: Any) -> bool:
    return isinstance(graphql_type, GraphQLObjectType) and {"edges", "pageInfo"} <= set(graphql_type.fields)


def _argument(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for argument in node.arguments or ():
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            if isinstance(value, IntValueNode):
                return int(value.value)
            return getattr(value, "value", None)
    return None


def _page(node: FieldNode, variables: dict[str, Any]) -> int:
    sizes = [value for value in (_argument(node, "first", variables), _argument(node, "last", variables))
             if isinstance(value, int) and not isinstance(value, bool)]
    return max(0, min(min(sizes), MAX_PAGE)) if sizes else MAX_PAGE


class _Estimate:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 variables: dict[str, Any]) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables

    def fields(self, selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str]) -> Iterator[
            tuple[FieldNode, Any]]:
        """Every field selected on ``parent``, through inline fragments and fragment spreads."""
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = self.schema.get_type(selection.type_condition.name.value) \
                    if selection.type_condition else parent
                yield from self.fields(selection.selection_set, condition or parent, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    condition = self.schema.get_type(fragment.type_condition.name.value) or parent
                    yield from self.fields(fragment.selection_set, condition, seen | {name})

    def cost(self, selection_set: SelectionSetNode | None, parent: Any, above: int, *,
             page: int | None = None, seen: frozenset[str] = frozenset()) -> int:
        total = 0
        for node, owner in self.fields(selection_set, parent, seen):
            field = getattr(owner, "fields", {}).get(node.name.value)
            if field is None:
                continue  # __typename, or unknown: validation answers for it
            named, is_list = _unwrapped(field.type)
            if _is_connection(named):
                total += above  # one count per parent
                total += self.cost(node.selection_set, named, above, page=_page(node, self.variables), seen=seen)
            elif page is not None and node.name.value == "edges":
                total += above * page + self.cost(node.selection_set, named, above * page, seen=seen)
            elif is_list and isinstance(named, GraphQLObjectType):
                total += above * LIST_BOUND + self.cost(node.selection_set, named, above * LIST_BOUND, seen=seen)
            elif node.selection_set is not None:
                total += self.cost(node.selection_set, named, above, seen=seen)
        return total


def estimated_cost(*, schema: GraphQLSchema, document: Any, operation_name: str | None,
                   variables: dict[str, Any] | None) -> int:
    """How many objects the chosen operation of ``document`` could fetch at most."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    estimate = _Estimate(schema, fragments, variables or {})
    roots = {"query": schema.query_type, "mutation": schema.mutation_type, "subscription": schema.subscription_type}
    return max((estimate.cost(o.selection_set, roots.get(o.operation.value), 1) for o in chosen), default=0)


class CostLimit(SchemaExtension):
    """Refuse, after validation and before any resolver runs (so before any SQL), an operation estimated
    above MAX_COST objects: it is answered with the error instead of being executed."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and not context.result:
            cost = estimated_cost(schema=context.schema._schema, document=context.graphql_document,
                                  operation_name=context.operation_name, variables=context.variables)
            if cost > MAX_COST:
                context.result = ExecutionResult(data=None, errors=[GraphQLError(
                    f"This operation could fetch about {cost:,} objects; the limit is {MAX_COST:,}. Ask for "
                    "smaller pages (first/last) or fewer nested lists, and page through the rest.",
                    extensions={"code": "too_costly", "cost": cost, "limit": MAX_COST})])
        yield


def _cursor_offset(cursor: Any, name: str) -> None:
    if not isinstance(cursor, str):
        raise GraphQLError(f"Argument '{name}' must be a cursor string.", extensions={"code": "invalid_argument"})
    try:
        decoded = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
    except (UnicodeError, binascii.Error, ValueError):
        decoded = ""
    offset = decoded[len(CURSOR_PREFIX):] if decoded.startswith(CURSOR_PREFIX) else ""
    if not offset.isdigit() or len(offset) > 12:
        raise GraphQLError(f"Argument '{name}' is not a cursor this API gave out: pass an edge's cursor or "
                           "pageInfo's endCursor/startCursor.", extensions={"code": "invalid_argument"})


def check_paging(arguments: dict[str, Any]) -> None:
    """``first``/``last`` from 0 to MAX_PAGE, and cursors that decode as ours, each refused by name."""
    for name in ("first", "last"):
        value = arguments.get(name)
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise GraphQLError(f"Argument '{name}' must be from 0 to {MAX_PAGE}, not {value}.",
                               extensions={"code": "invalid_argument"})
    for name in ("before", "after"):
        if arguments.get(name) is not None:
            _cursor_offset(arguments[name], name)


class PagingArguments(SchemaExtension):
    """Check every field's paging arguments before it resolves (a clear error, not an internal one)."""

    def resolve(self, _next: Callable, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs and any(name in kwargs for name in PAGING):
            check_paging(kwargs)
        return _next(root, info, *args, **kwargs)
