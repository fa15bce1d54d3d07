"""The dashboard's record types, declared where their models live: how each is listed, searched, sorted,
edited and deleted, and the registry the dashboard serves them from.

The core declares the record types of its own models; features (monitoring, connectors) declare theirs
and register them in their ``AppConfig.ready``, so the registry never imports a feature and the dashboard
(a door, above both) finds every page here. A resource pairs a selector (reads) with services (writes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django_htmx.http import HttpResponseClientRedirect

from portal.access import Actor, Role
from portal.forms import ScopedModelForm
from portal.tags.selectors import tag_choices
from portal.tenancy.selectors import companies_for, groups_for, sites_for


@dataclass(frozen=True)
class Column:
    """A table column: a dotted attribute path, and the ordering key when it can be sorted."""

    label: str
    attribute: str
    sort: str | None = None
    # Draws the cell from the row instead of reading ``attribute`` (e.g. a row's tags as coloured labels).
    render: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class ListFilter:
    """A select above a list: ``?<name>=<value>`` keeps rows whose ``lookup`` equals a listed choice."""

    name: str
    label: str
    lookup: str
    # None: any positive integer is accepted (ids linked from other pages, e.g. one device's actions).
    choices_for: Callable[[Actor], list[tuple[str, str]]] | None
    # Instead of ``lookup`` equality: narrow the rows yourself (e.g. devices that have pending patches).
    apply: Callable[[QuerySet, str], QuerySet] | None = None
    # A typed value (a text box, at most 200 characters) instead of a choice; ``apply`` says what it matches and
    # raises ValidationError for a value it cannot take (then the filter is left out, with the reason shown).
    typed: bool = False


def static_choices(choices: list[tuple[str, str]]) -> Callable[[Actor], list[tuple[str, str]]]:
    return lambda actor: choices


def company_choices(actor: Actor) -> list[tuple[str, str]]:
    return [(str(pk), name) for pk, name in companies_for(actor=actor).values_list("pk", "name")[:500]]


def site_choices(actor: Actor) -> list[tuple[str, str]]:
    return [(str(pk), f"{company} / {name}")
            for pk, name, company in sites_for(actor=actor).values_list("pk", "name", "company__name")[:500]]


def group_choices(actor: Actor) -> list[tuple[str, str]]:
    return [(str(pk), f"{site} / {name}")
            for pk, name, site in groups_for(actor=actor).values_list("pk", "name", "site__name")[:500]]


def tag_label(tag: Any) -> SafeString:
    """A tag as a coloured label (the colour is a class of the fixed palette; the name is escaped)."""
    return format_html('<span class="tag tag-{}">{}</span>', tag.colour, tag.name)


def tag_labels(obj: Any) -> SafeString:
    """An object's tags as coloured labels."""
    return format_html_join(" ", "{}", ((tag_label(tag),) for tag in obj.tags.all()))


# What every list of taggable objects shows and filters by.
TAGS_COLUMN = Column("Tags", "tags", render=tag_labels)
TAG_FILTER = ListFilter("tag", "Tag", "tags__id", tag_choices)


@dataclass(frozen=True)
class Resource:
    slug: str
    noun: str
    title: str
    rows_for: Callable[..., QuerySet]
    columns: tuple[Column, ...]
    search_fields: tuple[str, ...]
    default_sort: str
    form_class: type[ScopedModelForm] | None = None
    create: Callable[..., Model] | None = None
    update: Callable[..., Model] | None = None
    delete: Callable[..., None] | None = None
    create_role: Role = Role.OPERATOR
    edit_role: Role = Role.OPERATOR
    # Query parameters that may preselect a create form's parent (e.g. ?company=3 for a new site).
    parent_fields: tuple[str, ...] = ()
    empty_hint: str = ""
    # Fields the detail page leaves out of its facts (shown elsewhere on the page, or internal).
    hidden_fields: tuple[str, ...] = ()
    filters: tuple[ListFilter, ...] = ()
    # Who may create, edit and delete, when a role is not enough: the MSP-wide library and connectors are
    # for administrators who see every company (the services refuse anyone else as well).
    writers: Callable[[Actor], bool] | None = None
    # A date field the list can be narrowed by with ?since=YYYY-MM-DD&until=YYYY-MM-DD.
    date_filter: str | None = None
    # Not owned by one company: the MSP's shared library (scripts, software, profiles: every signed-in user
    # sees the same rows) and connectors (administrators who see every company).
    shared: bool = False
    # Rows can be picked with checkboxes and handed to the run-an-action page or tagged together (devices).
    selectable: bool = False
    # The model carries tags: the detail page shows them, with an editor for those who may edit.
    taggable: bool = False
    # Admins' custom fields of this target (company, site, device) are shown, edited and filtered by.
    custom_field_target: str = ""
    # The create form's initial values from the query string (a device list's filters become a group's rules).
    initial_from_query: Callable[[Any], dict[str, Any]] | None = None
    detail_context: Callable[..., dict[str, Any]] = field(default=lambda actor, obj: {})
    # The detail page has its own search or filters: ``detail_context`` is also given the query string.
    detail_reads_query: bool = False

    @property
    def sort_keys(self) -> set[str]:
        return {column.sort for column in self.columns if column.sort}

    def rows(self, actor: Actor) -> QuerySet:
        return self.rows_for(actor=actor)

    def may_create(self, actor: Actor) -> bool:
        return self.create is not None and actor.has_role(self.create_role) and (
            self.writers is None or self.writers(actor))

    def may_edit(self, actor: Actor) -> bool:
        return actor.has_role(self.edit_role) and (self.writers is None or self.writers(actor))


RESOURCES: dict[str, Resource] = {}


def register(*resources: Resource) -> None:
    """Add record types to the dashboard (each app calls this from its ``AppConfig.ready``)."""
    for resource in resources:
        if resource.slug in RESOURCES and RESOURCES[resource.slug] is not resource:
            raise ValueError(f"Two record types claim the page /{resource.slug}/.")
        RESOURCES[resource.slug] = resource


def resource(slug: str) -> Resource:
    """The registered record type of ``slug`` (KeyError when there is none)."""
    return RESOURCES[slug]


def redirect_to(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect a plain request, or tell htmx to navigate."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
