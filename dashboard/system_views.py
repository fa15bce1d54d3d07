"""The system page: every server process (web processes and task clusters, on every host) with its last beat,
and the health checks, for administrators who see every company."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from portal.access import is_msp_admin
from portal.health import run_checks
from portal.operations.selectors import processes_seen
from portal.operations.services import STALE_AFTER_SECONDS


@login_required
def system_status(request: HttpRequest) -> HttpResponse:
    if not is_msp_admin(request.actor):
        raise Http404("The system page is for administrators who see every company.")
    return render(request, "web/system_status.html", {
        "processes": processes_seen(), "checks": run_checks(), "version": settings.FLEETWATCH_VERSION,
        "stale_after": STALE_AFTER_SECONDS})
