"""What every GraphQL area shares: the page size, word search, the input that names one node, the delete
mutation's body, and turning inputs into service keyword arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import strawberry
from django.db.models import Q, QuerySet
from strawberry import UNSET, relay
from strawberry.types import Info

from graph.context import actor_from
from graph.errors import DeletePayload, attempt, lookup

MAX_PAGE = 100
"""The most rows one connection page returns, whatever ``first`` asks for."""


def words_matching(value: str, *fields: str, prefix: str = "") -> Q:
    """Every word of ``value`` appears in one of ``fields`` (case-insensitive): "acme lon" finds "Acme London"."""
    condition = Q()
    for word in value.split():
        any_field = Q()
        for name in fields:
            any_field |= Q(**{f"{prefix}{name}__icontains": word})
        condition &= any_field
    return condition


@strawberry.input(description="Names one node by its global id: what to delete, cancel, revoke, poll, check or sync.")
class NodeInput:
    id: relay.GlobalID


def delete_node(info: Info, *, rows_for: Callable[..., QuerySet], type_name: str, delete: Callable[..., Any],
                noun: str, global_id: relay.GlobalID) -> DeletePayload:
    """Find the node among the rows the caller may see and delete it through its service."""
    actor = actor_from(info)

    def write() -> relay.GlobalID:
        delete(actor=actor, **{noun: lookup(rows_for(actor=actor), global_id, type_name=type_name)})
        return global_id

    deleted, errors = attempt(write)
    return DeletePayload(deleted_id=deleted, errors=errors)


def changes_from(data: Any, *, exclude: set[str] = frozenset()) -> dict[str, Any]:
    """The fields the caller actually sent (UNSET ones are left out), without ``id`` and ``exclude``.

    A null sent for a text field means "empty".
    """
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(data):
        name = field.name
        if name == "id" or name in exclude:
            continue
        value = getattr(data, name)
        if value is UNSET:
            continue
        if value is None and name != "account_number":
            value = ""
        changes[name] = value
    return changes


def sent_fields(data: Any, names: Iterable[str] | None = None, *, keep_nulls: bool = False) -> dict[str, Any]:
    """The named input fields (all of them without ``names``) the caller sent: UNSET ones left out, and nulls
    too unless ``keep_nulls`` (for fields where null means "clear", like a threshold), so the service's
    defaults apply to what was not given."""
    if names is None:
        names = [field.name for field in dataclasses.fields(data)]
    values = {}
    for name in names:
        value = getattr(data, name, UNSET)
        if value is UNSET or (value is None and not keep_nulls):
            continue
        values[name] = value
    return values
