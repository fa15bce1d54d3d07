"""Typed mutation errors: validation, missing objects and refusals come back in the payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Model, Q, QuerySet
from graphql import GraphQLError
from strawberry import relay

T = TypeVar("T")


@strawberry.type(description="Why a mutation did not do what was asked.")
class MutationError:
    field: str | None = strawberry.field(description="The input field at fault, or null for the whole input.")
    message: str
    code: str = strawberry.field(description="invalid, not_found, permission_denied or conflict.")


@strawberry.type
class Payload(Generic[T]):
    """The changed object, or the errors that stopped the change."""

    node: T | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class DeletePayload:
    deleted_id: relay.GlobalID | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


class NotFound(Exception):
    """An id that does not exist, or that the caller may not see: the two are told apart nowhere."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


MAX_PK = 2**63 - 1


def node_pk(global_id: relay.GlobalID, *, type_name: str) -> int | None:
    """The primary key a global id names, or None when it names another type or no valid key."""
    node_id = global_id.node_id
    if global_id.type_name != type_name or not node_id.isascii() or not node_id.isdigit() or len(node_id) > 19:
        return None
    pk = int(node_id)
    return pk if 0 < pk <= MAX_PK else None


def id_filter(global_id: relay.GlobalID, *, type_name: str, column: str, prefix: str) -> Q:
    """A filter on a foreign key by global id; an id of another type, or of nothing, matches nothing (as an
    id the caller may not see does), instead of reaching the database as a malformed value."""
    pk = node_pk(global_id, type_name=type_name)
    return Q(**{f"{prefix}{column}": pk}) if pk is not None else Q(pk__in=[])


def lookup(rows: QuerySet, global_id: relay.GlobalID, *, type_name: str, field: str = "id") -> Model:
    """The row behind a global id, read through the caller's scoped QuerySet."""
    pk = node_pk(global_id, type_name=type_name)
    if pk is None:
        raise NotFound(field)
    try:
        return rows.get(pk=pk)
    except ObjectDoesNotExist as missing:
        raise NotFound(field) from missing


def lookup_argument(rows: QuerySet, global_id: relay.GlobalID, *, type_name: str, argument: str) -> Model:
    """``lookup`` for a query's argument: an id the caller may not see is an error naming the argument."""
    try:
        return lookup(rows, global_id, type_name=type_name, field=argument)
    except NotFound as missing:
        raise GraphQLError(f"Argument '{argument}' names no {type_name} you may see.",
                           extensions={"code": "not_found", "argument": argument}) from missing


def errors_of(error: Exception) -> list[MutationError]:
    """Translate what a service raised into payload errors."""
    if isinstance(error, NotFound):
        return [MutationError(field=error.field, message="No such object.", code="not_found")]
    if isinstance(error, ObjectDoesNotExist):
        return [MutationError(field=None, message="No such object.", code="not_found")]
    if isinstance(error, PermissionDenied):
        return [MutationError(field=None, message=str(error) or "Not allowed.", code="permission_denied")]
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return [MutationError(field=None if name == NON_FIELD_ERRORS else strawberry_name(name),
                                  message=message, code="invalid")
                    for name, messages in error.message_dict.items() for message in messages]
        return [MutationError(field=None, message=message, code="invalid") for message in error.messages]
    raise error


def strawberry_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def attempt(write: Callable[[], T]) -> tuple[T | None, list[MutationError]]:
    """Run a lookup-and-write; expected failures become payload errors, anything else propagates."""
    try:
        return write(), []
    except (NotFound, ObjectDoesNotExist, PermissionDenied, ValidationError) as error:
        return None, errors_of(error)
