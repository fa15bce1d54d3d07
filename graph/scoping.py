"""Every GraphQL type over a tenant-owned model reads its rows through ``visible_to``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from strawberry.types import Info

from graph.context import actor_from
from portal.access import visible_to


class Scoped:
    """Mixin for strawberry-django types: root lists, nested lists and ``node(id:)`` are all scoped."""

    # Global ids are built from the primary key. Saying so here spares strawberry a search of every
    # annotation for a NodeID on each object it returns (uncached when none is found: ~4 ms per object).
    _id_attr = "pk"

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs: Any) -> QuerySet:
        return visible_to(queryset, actor_from(info))
