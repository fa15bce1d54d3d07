"""Agent updates, for administrators who see every company: the release this server built, the fleet's
versions, and the rollout ring (a dynamic group first, then a percentage) that offers it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal.access import is_msp_admin, rows_for_system
from portal.dynamic_groups.selectors import dynamic_groups_for
from portal.inventory.selectors import devices_for
from portal.operations import rollouts
from portal.operations.agent_release import current_release
from portal.operations.models import AgentRollout
from portal.pages import redirect_to


class RolloutForm(forms.Form):
    percent = forms.IntegerField(min_value=0, max_value=100, initial=10, label="Share of devices (%)",
                                 help_text="Devices of every company, chosen by a stable hash: raising it later "
                                           "keeps those already chosen.")
    dynamic_group = forms.ModelChoiceField(queryset=None, required=False,
                                           label="Dynamic group first",
                                           help_text="Its devices are offered the version whatever the share.")


@login_required
@require_http_methods(["GET", "POST"])
def agent_updates(request: HttpRequest) -> HttpResponse:
    if not is_msp_admin(request.actor):
        raise Http404("Agent updates are for administrators who see every company.")
    form = RolloutForm(request.POST or None)
    form.fields["dynamic_group"].queryset = dynamic_groups_for(actor=request.actor)
    if request.method == "POST":
        if request.POST.get("stop"):
            rollouts.stop_rollout(actor=request.actor)
            messages.success(request, "The rollout is stopped: no agent is offered the version any more.")
            return redirect_to(request, reverse("agent-updates"))
        if form.is_valid():
            try:
                rollout = rollouts.start_rollout(actor=request.actor, percent=form.cleaned_data["percent"],
                                                 dynamic_group=form.cleaned_data["dynamic_group"])
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Agents in the ring are offered {rollout.version} when they next "
                                          "connect.")
                return redirect_to(request, reverse("agent-updates"))
    release = current_release()
    versions = list(devices_for(actor=request.actor).order_by().values_list("agent_version")
                    .annotate(n=Count("id")).order_by("-n", "agent_version"))
    return render(request, "web/agent_updates.html", {
        "form": form, "release": release, "versions": versions,
        "active": rows_for_system(AgentRollout).filter(active=True).select_related("dynamic_group").first(),
        "history": rows_for_system(AgentRollout).select_related("dynamic_group")[:20]})
