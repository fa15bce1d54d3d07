"""Sync now, from the connector page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from connectors.selectors import connectors_for
from connectors.services import request_sync
from portal.web.views import redirect_to


@login_required
@require_POST
def connector_sync(request: HttpRequest, pk: int) -> HttpResponse:
    connector = get_object_or_404(connectors_for(actor=request.actor), pk=pk)
    request_sync(actor=request.actor, connector=connector)
    return redirect_to(request, reverse("resource-detail", args=["connectors", pk]))
