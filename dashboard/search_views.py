"""Global search: one box (``/`` jumps to it) across devices (hostname, display name, serial, IP addresses),
companies, sites, contacts, network devices and cameras, answering as the user types. Every kind is read
through its page's scoped rows, so a technician finds only what their companies hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from portal.access import Actor
from portal.listing import search
from portal.pages import RESOURCES

# (page slug, heading, the fields a word is looked for in, how a hit is described below its name)
KINDS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("devices", "Devices", ("hostname", "display_name", "serial_number", "ip_addresses"), "company"),
    ("companies", "Companies", ("name", "account_number"), ""),
    ("sites", "Sites", ("name", "address"), "company"),
    ("contacts", "Contacts", ("name", "email", "phone"), "company"),
    ("network", "Network devices", ("name", "host", "sys_name"), "company"),
    ("cameras", "Cameras", ("name", "host"), "company"),
)
SHORT, FULL = 6, 50


@dataclass(frozen=True)
class Hit:
    label: str
    detail: str
    url: str


@dataclass(frozen=True)
class Group:
    heading: str
    hits: list[Hit]
    more_url: str


def find(*, actor: Actor, query: str, per_kind: int) -> list[Group]:
    """What matches every word of ``query`` in each kind the actor may see (the first ``per_kind`` of each)."""
    groups = []
    for slug, heading, fields, detail in KINDS:
        resource = RESOURCES.get(slug)
        if resource is None:
            continue
        rows = resource.rows(actor)
        found = list(search(rows, query=query, fields=fields).order_by(resource.default_sort, "pk")[:per_kind + 1])
        if not found:
            continue
        hits = [Hit(label=str(row), detail=_detail(row, detail), url=reverse("resource-detail", args=[slug, row.pk]))
                for row in found[:per_kind]]
        more = f"{reverse('resource-list', args=[slug])}?{urlencode({'q': query})}" if len(found) > per_kind else ""
        groups.append(Group(heading=heading, hits=hits, more_url=more))
    return groups


def _detail(row: Any, attribute: str) -> str:
    if not attribute:
        return ""
    value = getattr(row, attribute, None)
    return str(value) if value is not None else ""


@login_required
@require_GET
def global_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    partial = bool(request.htmx)
    groups = find(actor=request.actor, query=query, per_kind=SHORT if partial else FULL) if query else []
    template = "web/partials/_search_results.html" if partial else "web/search.html"
    return render(request, template, {"query": query, "groups": groups})
