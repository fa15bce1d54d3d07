"""Search, sort and paginate a scoped QuerySet from the query string (state lives in the URL)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import QueryDict

from portal.access import rows_for_system

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Listing:
    page: Page
    query: str
    sort: str
    per_page: int


def _positive_int(raw: str | None, *, default: int, maximum: int) -> int:
    try:
        value = int(raw or default)
    except ValueError:
        return default
    return min(max(value, 1), maximum)


# Related rows matching a word, looked up first and inlined by id when they are few: the search then stays
# on the listed table, where PostgreSQL combines its trigram indexes (a join, or a subquery, in the OR
# made it scan every row: ~100 ms at 10,000 devices).
MAX_INLINED_IDS = 500


def _matches(rows: QuerySet, name: str, word: str) -> Q:
    first, _, rest = name.partition("__")
    if not rest:
        return Q(**{f"{name}__icontains": word})
    relation = rows.model._meta.get_field(first)
    related = relation.related_model
    # Only narrows rows already in the caller's scope: the ids found here are never shown.
    ids = list(rows_for_system(related).filter(**{f"{rest}__icontains": word})
               .values_list("pk", flat=True)[:MAX_INLINED_IDS + 1])
    matching = Q(**{f"{name}__icontains": word}) if len(ids) > MAX_INLINED_IDS else Q(**{f"{first}__in": ids})
    if relation.many_to_many:
        # A row carrying two matching tags must be listed once: match the row, not the join.
        return Q(pk__in=rows.model._default_manager.filter(matching).values("pk"))
    return matching


def search(rows: QuerySet, *, query: str, fields: tuple[str, ...]) -> QuerySet:
    """Rows where every word of ``query`` appears in one of ``fields`` (case-insensitive)."""
    for word in query.split():
        rows = rows.filter(reduce(or_, (_matches(rows, name, word) for name in fields)))
    return rows


def build_listing(rows: QuerySet, *, params: QueryDict, search_fields: tuple[str, ...],
                  sort_keys: set[str], default_sort: str) -> Listing:
    """Apply ``q``, ``sort`` (a known key, ``-`` for descending), ``page`` and ``per_page``."""
    query = params.get("q", "").strip()[:200]
    if query:
        rows = search(rows, query=query, fields=search_fields)
    sort = params.get("sort", default_sort)
    if sort.lstrip("-") not in sort_keys:
        sort = default_sort
    rows = rows.order_by(sort, "-pk" if sort.startswith("-") else "pk")
    per_page = _positive_int(params.get("per_page"), default=settings.FLEETWATCH_PAGE_SIZE, maximum=MAX_PER_PAGE)
    page = Paginator(rows, per_page).get_page(params.get("page"))
    return Listing(page=page, query=query, sort=sort, per_page=per_page)
