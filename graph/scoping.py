"""Every GraphQL type over a model reads its rows through ``visible_to``: the model's declared visibility
decides (a company's rows, the MSP-wide library, connectors for all-company admins, one's own tokens…)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from strawberry.types import Info

from graph.context import actor_from
from portal.access import visible_to


class PrimaryKeyIds:
    """Mixin for every relay type over a model: global ids are built from the primary key.

    Saying so spares strawberry a search of every annotation for a NodeID on each object it returns
    (uncached when none is found: about 4 ms per object)."""

    _id_attr = "pk"


class Visible(PrimaryKeyIds):
    """Mixin for strawberry-django types: root lists, nested lists and ``node(id:)`` all read through the
    one rule, by the model's declared visibility."""

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs: Any) -> QuerySet:
        return visible_to(queryset, actor_from(info))
