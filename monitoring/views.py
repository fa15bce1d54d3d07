"""Network pages beyond the generic resource views: poll now."""

from __future__ import annotations

import contextlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from monitoring import services
from monitoring.selectors import alerts_for, cameras_for, network_devices_for
from portal.pages import redirect_to


@login_required
@require_POST
def network_poll(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(network_devices_for(actor=request.actor), pk=pk)
    try:
        services.poll_now(actor=request.actor, networkdevice=device)
        messages.info(request, "Poll queued: the result appears on this page when it arrives.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect_to(request, reverse("resource-detail", args=["network", pk]))


@login_required
@require_POST
def camera_check(request: HttpRequest, pk: int) -> HttpResponse:
    camera = get_object_or_404(cameras_for(actor=request.actor), pk=pk)
    try:
        services.check_now(actor=request.actor, camera=camera)
        messages.info(request, "Check queued: the result appears on this page when it arrives.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect_to(request, reverse("resource-detail", args=["cameras", pk]))


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(alerts_for(actor=request.actor), pk=pk)
    with contextlib.suppress(ValidationError):  # resolved meanwhile: the page says so
        services.acknowledge_alert(actor=request.actor, alert=alert, note=request.POST.get("note", ""))
    return redirect_to(request, reverse("resource-detail", args=["alerts", pk]))
