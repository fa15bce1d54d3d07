"""A device's page in tabs: Summary (facts, status, charts, alerts, last actions, effective policy), Software,
Services, Patches, Actions and History. Each tab is its own URL (``?tab=software``) and a partial loaded on
demand by htmx, searchable and paged on the server; without JavaScript the links load the whole page with
that tab open."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from connectors.selectors import pulseway_record_of
from dashboard.charts import device_charts
from monitoring.policy_checks import effective_checks_of_device
from monitoring.selectors import alerts_for
from portal.access import Actor, Role
from portal.actions.selectors import actions_for
from portal.audit.selectors import audit_events_for
from portal.inventory.selectors import (
    devices_for,
    inventory_changes_for,
    inventory_for,
    pending_patches_for,
    services_for,
    software_for,
)
from portal.listing import search
from portal.patching.evaluation import STATE_LABELS
from portal.patching.selectors import device_patching
from portal.policies.selectors import policies_by_device
from portal.remote.models import RemoteSession
from portal.remote.selectors import search_sessions, sessions_for

TABS = (("summary", "Summary"), ("software", "Software"), ("services", "Services"), ("patches", "Patches"),
        ("actions", "Actions"), ("history", "History"))
PAGE = 50


def _paged(rows: QuerySet, params: QueryDict, *, fields: tuple[str, ...]) -> tuple[Page, str]:
    query = params.get("q", "").strip()[:100]
    if query:
        rows = search(rows, query=query, fields=fields)
    return Paginator(rows, PAGE).get_page(params.get("page")), query


def _summary(actor: Actor, device: Any, params: QueryDict) -> dict[str, Any]:
    applied = policies_by_device(device_ids=[device.pk]).get(device.pk, [])
    return {
        "inventory": inventory_for(actor=actor).filter(device=device).first(),
        "charts": device_charts(actor=actor, device=device),
        "alerts": alerts_for(actor=actor).filter(object_key=f"device:{device.pk}", resolved_at__isnull=True)[:20],
        "recent_actions": actions_for(actor=actor).filter(device=device)[:10],
        "pending_patch_count": pending_patches_for(actor=actor).filter(device=device).count(),
        "applied_policies": applied,
        "effective_checks": effective_checks_of_device(device.pk, applied=applied),
    }


def _software(actor: Actor, device: Any, params: QueryDict) -> dict[str, Any]:
    page, query = _paged(software_for(actor=actor).filter(device=device).order_by("name", "pk"), params,
                         fields=("name", "version", "source"))
    return {"page": page, "query": query}


def _services(actor: Actor, device: Any, params: QueryDict) -> dict[str, Any]:
    rows = services_for(actor=actor).filter(device=device).order_by("name", "pk")
    state = params.get("state", "")
    if state == "running":
        rows = rows.filter(status="running")
    elif state == "stopped":
        rows = rows.exclude(status="running")
    page, query = _paged(rows, params, fields=("name", "display_name", "status"))
    return {"page": page, "query": query, "state": state}


def _patches(actor: Actor, device: Any, params: QueryDict) -> dict[str, Any]:
    return {"view": device_patching(actor=actor, device=device), "state_labels": STATE_LABELS,
            "can_run_actions": actor.has_role(Role.OPERATOR)}


def _actions(actor: Actor, device: Any, params: QueryDict) -> dict[str, Any]:
    page, query = _paged(actions_for(actor=actor).filter(device=device), params,
                         fields=("title", "requested_by_label", "status"))
    return {"page": page, "query": query}


def _history(actor: Actor, device: Any, params: QueryDict) -> dict[str, Any]:
    page, query = _paged(inventory_changes_for(actor=actor).filter(device=device), params,
                         fields=("name", "change", "before", "after"))
    audit = audit_events_for(actor=actor).filter(Q(object_type="inventory.device", object_id=str(device.pk)))
    sessions_query = params.get("sessions_q", "").strip()[:100]
    return {"page": page, "query": query, "audit": audit.order_by("-created_at")[:50],
            "remote_sessions": sessions_for(actor=actor).filter(device=device)[:20], "sessions_query": sessions_query,
            "sessions_found": search_sessions(actor=actor, device_id=device.pk, query=sessions_query)
            if sessions_query else None}


BUILDERS = {"summary": _summary, "software": _software, "services": _services, "patches": _patches,
            "actions": _actions, "history": _history}


def tab_context(actor: Actor, device: Any, params: QueryDict) -> dict[str, Any]:
    """The device page's context: the chosen tab (Summary unless ``?tab=`` names another) with its content."""
    tab = params.get("tab", "summary")
    if tab not in BUILDERS:
        tab = "summary"
    return {"tabs": TABS, "tab": tab, "tab_template": f"web/devices/_tab_{tab}.html",
            "can_revoke_agent": actor.has_role(Role.OPERATOR), "can_run_actions": actor.has_role(Role.OPERATOR),
            "can_open_remote": actor.may_open_remote_sessions and actor.has_role(Role.OPERATOR),
            "remote_shells": RemoteSession._meta.get_field("shell").choices,
            "pulseway_managed": pulseway_record_of(device) is not None, **BUILDERS[tab](actor, device, params)}


@login_required
@require_GET
def device_tab(request: HttpRequest, pk: int) -> HttpResponse:
    """One tab's content (``?tab=``), swapped into the page (paging and searching within it swap it again)."""
    tab = request.GET.get("tab", "summary")
    if tab not in BUILDERS:
        raise Http404("No such tab.")
    device = get_object_or_404(devices_for(actor=request.actor), pk=pk)
    context = {"object": device, "tab": tab, **BUILDERS[tab](request.actor, device, request.GET)}
    return render(request, f"web/devices/_tab_{tab}.html", context)
