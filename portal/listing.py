"""Search, sort and paginate a scoped QuerySet from the query string (state lives in the URL)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import QueryDict

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


def search(rows: QuerySet, *, query: str, fields: tuple[str, ...]) -> QuerySet:
    """Rows where every word of ``query`` appears in one of ``fields`` (case-insensitive)."""
    for word in query.split():
        rows = rows.filter(reduce(or_, (Q(**{f"{name}__icontains": word}) for name in fields)))
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
