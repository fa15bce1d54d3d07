"""The run form's target picker: search the actor's companies, sites, groups, dynamic groups and devices by
name, pick one, and see how many devices it will hit (and how many are online) before queuing."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.access import Actor, Role, require_role
from portal.actions.services import Targets
from portal.dynamic_groups.selectors import dynamic_groups_for, members_of
from portal.inventory.models import DeviceStatus
from portal.inventory.selectors import devices_for
from portal.listing import search
from portal.tenancy.selectors import companies_for, groups_for, sites_for

PER_KIND = 5


@dataclass(frozen=True)
class Candidate:
    value: str  # kind:id
    kind: str
    label: str
    detail: str
    devices: int


def candidates(*, actor: Actor, query: str) -> list[Candidate]:
    """What the words of ``query`` find among the actor's targets, a few of each kind, with device counts."""
    found: list[Candidate] = []
    scoped = devices_for(actor=actor)
    for row in search(companies_for(actor=actor), query=query, fields=("name",)).order_by("name")[:PER_KIND]:
        found.append(Candidate(f"company:{row.pk}", "Company", row.name, "",
                               scoped.filter(company=row).count()))
    for row in search(sites_for(actor=actor), query=query, fields=("name",)).order_by("name")[:PER_KIND]:
        found.append(Candidate(f"site:{row.pk}", "Site", row.name, row.company.name, scoped.filter(site=row).count()))
    for row in search(groups_for(actor=actor), query=query, fields=("name",)).order_by("name")[:PER_KIND]:
        found.append(Candidate(f"group:{row.pk}", "Group", row.name, f"{row.site.company.name} / {row.site.name}",
                               scoped.filter(group=row).count()))
    for row in search(dynamic_groups_for(actor=actor), query=query, fields=("name",)).order_by("name")[:PER_KIND]:
        found.append(Candidate(f"dynamic_group:{row.pk}", "Dynamic group", row.name,
                               row.company.name if row.company_id else "the whole MSP",
                               members_of(actor=actor, group=row).count()))
    for row in search(scoped, query=query, fields=("hostname", "display_name", "serial_number", "ip_addresses")
                      ).order_by("hostname")[:PER_KIND]:
        found.append(Candidate(f"device:{row.pk}", "Device", str(row), f"{row.company.name} / {row.site.name}", 1))
    return found


def _targets(actor: Actor, params: dict) -> Targets:
    """The Targets the form's current values name (the picker's choice, or the devices picked in the list)."""
    os_type = params.get("os_type") or None
    value = params.get("target", "")
    kind, _, raw = value.partition(":")
    if value and raw.isdigit():
        rows = {"company": companies_for, "site": sites_for, "group": groups_for,
                "dynamic_group": dynamic_groups_for, "device": devices_for}.get(kind)
        if rows is None:
            raise ValidationError("Pick a target from the list.")
        found = rows(actor=actor).get(pk=int(raw))
        if kind == "device":
            return Targets(device_ids=(found.pk,), os_type=os_type)
        return Targets(**{kind: found}, os_type=os_type)
    picked = tuple(int(pk) for pk in params.getlist("device") if pk.isdigit())[:1000]
    return Targets(device_ids=picked, os_type=os_type)


@login_required
@require_GET
def target_search(request: HttpRequest) -> HttpResponse:
    require_role(request.actor, Role.OPERATOR)
    query = request.GET.get("target_q", "").strip()[:100]
    found = candidates(actor=request.actor, query=query) if query else []
    return render(request, "web/partials/_target_candidates.html", {"candidates": found, "query": query})


@login_required
@require_GET
def target_count(request: HttpRequest) -> HttpResponse:
    """How many devices the form's target will hit now (and how many are online), before anything is queued."""
    require_role(request.actor, Role.OPERATOR)
    try:
        targets = _targets(request.actor, request.GET)
        devices = targets.devices(request.actor)
        if targets.os_type:
            devices = devices.filter(os_type=targets.os_type)
        total = devices.count()
        online = devices.filter(status=DeviceStatus.ONLINE).count()
        context = {"total": total, "online": online}
    except (ValidationError, ObjectDoesNotExist):
        context = {"unset": True}
    return render(request, "web/partials/_target_count.html", context)
