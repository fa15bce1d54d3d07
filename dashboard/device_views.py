"""Device-specific pages: revoking an agent, and enrollment tokens (the device page's tabs: device_tabs)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.forms import EnrollmentTokenForm
from portal.access import Role, require_role
from portal.inventory import enrollment
from portal.inventory.selectors import devices_for, enrollment_tokens_for
from portal.operations.agent_release import current_release
from portal.operations.agent_release import server_url as install_server_url
from portal.pages import redirect_to


@login_required
@require_POST
def device_revoke_agent(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(devices_for(actor=request.actor), pk=pk)
    enrollment.revoke_agent_tokens(actor=request.actor, device=device)
    return redirect_to(request, reverse("resource-detail", args=["devices", device.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def enrollment_tokens(request: HttpRequest) -> HttpResponse:
    """Enrollment tokens of the companies one may see; admins create them (value shown once) and revoke."""
    issued = None
    form = None
    can_manage = request.actor.has_role(Role.ADMIN)
    if can_manage:
        form = EnrollmentTokenForm(request.POST or None, actor=request.actor)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            days = data["expires_in_days"]
            try:
                issued = enrollment.create_enrollment_token(
                    actor=request.actor, site=data["site"], group=data["group"], name=data["name"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None, max_uses=data["max_uses"])
                form = EnrollmentTokenForm(actor=request.actor)
            except ValidationError as error:
                form.add_error(None, error)
    elif request.method == "POST":
        require_role(request.actor, Role.ADMIN)
    tokens = enrollment_tokens_for(actor=request.actor)[:200]
    server_url = request.build_absolute_uri("/").rstrip("/")
    install_url = install_server_url() if current_release() is not None else None
    return render(request, "web/enrollment_tokens.html", {
        "tokens": tokens, "form": form, "issued": issued, "can_manage": can_manage, "server_url": server_url,
        "install_url": install_url})


@login_required
@require_POST
def enrollment_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(enrollment_tokens_for(actor=request.actor), pk=pk)
    enrollment.revoke_enrollment_token(actor=request.actor, token=token)
    return redirect_to(request, reverse("enrollment-tokens"))
