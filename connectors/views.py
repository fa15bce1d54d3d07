"""Connector pages beyond the generic resource views: sync now, mapping, conflicts, Pulseway scripts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from connectors import services
from connectors.selectors import connectors_for, external_records_for
from connectors.services import queue_pulseway_script
from portal.inventory.selectors import devices_for
from portal.pages import redirect_to


def _error_text(error: ValidationError) -> str:
    return "; ".join(error.messages)


@login_required
@require_POST
def connector_sync(request: HttpRequest, pk: int) -> HttpResponse:
    connector = get_object_or_404(connectors_for(actor=request.actor), pk=pk)
    try:
        services.request_sync(actor=request.actor, connector=connector)
        messages.info(request, "Sync queued: its progress shows below.")
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect_to(request, reverse("resource-detail", args=["connectors", pk]))


@login_required
@require_POST
def connector_record_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Map an upstream record to the Fleetwatch record picked on the page ("" gives it back to the sync)."""
    external = get_object_or_404(external_records_for(actor=request.actor), pk=pk)
    raw = request.POST.get("object_id", "").strip()
    try:
        services.remap_record(actor=request.actor, external=external,
                              object_id=int(raw) if raw.isdigit() else None)
        messages.info(request, f"“{external.label}” is mapped; the next sync follows it.")
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect_to(request, reverse("resource-detail", args=["connectors", external.connector_id]) + "#mapping")


@login_required
@require_POST
def connector_conflict_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    external = get_object_or_404(external_records_for(actor=request.actor), pk=pk)
    try:
        services.resolve_conflict(actor=request.actor, external=external,
                                  take_over=request.POST.get("choice") == "take_over")
        messages.info(request, f"Conflict on “{external.label}” resolved; the next sync applies it.")
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect_to(request, reverse("resource-detail", args=["connectors", external.connector_id]) + "#conflicts")


@login_required
@require_POST
def pulseway_script_run(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(devices_for(actor=request.actor), pk=pk)
    variables = []
    for line in request.POST.get("variables", "").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().isdigit():
            variables.append({"Id": int(name.strip()), "Value": value.strip()})
    try:
        action = queue_pulseway_script(actor=request.actor, device=device, script_id=request.POST.get("script_id", ""),
                                       variables=variables)
    except ValidationError as error:
        messages.error(request, _error_text(error))
        return redirect_to(request, reverse("resource-detail", args=["devices", pk]))
    return redirect_to(request, reverse("resource-detail", args=["actions", action.pk]))
