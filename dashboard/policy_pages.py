"""Automation policies on the pages: the record type (list, form, detail with its checks and where it applies),
assigning and excluding it, and removing an assignment."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard.patch_views import patching_of_policy
from monitoring.selectors import alert_routes_for, checks_for
from portal.access import Actor, Role
from portal.actions.selectors import schedules_for
from portal.dynamic_groups.selectors import dynamic_groups_for
from portal.forms import CompanyOrMspForm
from portal.inventory.selectors import devices_for
from portal.pages import Column, Resource, redirect_to
from portal.policies import services
from portal.policies.models import TARGET_FIELDS, Level, Policy
from portal.policies.selectors import assignments_for, policies_for
from portal.tenancy.selectors import companies_for, groups_for, sites_for


class PolicyForm(CompanyOrMspForm):

    class Meta:
        model = Policy
        fields = ["name", "company", "description", "enabled"]


class AssignForm(forms.Form):
    """Where to apply a policy (or keep it away): one kind of place and the place itself."""

    level = forms.ChoiceField(choices=Level.choices)
    company = forms.ModelChoiceField(queryset=None, required=False)
    site = forms.ModelChoiceField(queryset=None, required=False)
    group = forms.ModelChoiceField(queryset=None, required=False)
    dynamic_group = forms.ModelChoiceField(queryset=None, required=False)
    device = forms.ModelChoiceField(queryset=None, required=False, widget=forms.NumberInput,
                                    help_text="The device's id (its page links here with it filled in).")
    order = forms.IntegerField(initial=0, required=False, help_text="Within a level, a higher order wins.")
    exclude = forms.BooleanField(required=False, help_text="Keep the policy away from this company, site or device.")

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company"].queryset = companies_for(actor=actor)
        self.fields["site"].queryset = sites_for(actor=actor)
        self.fields["group"].queryset = groups_for(actor=actor)
        self.fields["dynamic_group"].queryset = dynamic_groups_for(actor=actor)
        self.fields["device"].queryset = devices_for(actor=actor)

    def target(self) -> Any:
        level = self.cleaned_data["level"]
        return None if level == Level.MSP else self.cleaned_data.get(TARGET_FIELDS[level])


def _policy_detail(actor: Actor, policy: Policy) -> dict[str, Any]:
    return {**patching_of_policy(actor, policy),
            "checks": checks_for(actor=actor).filter(policy=policy),
            "routes": alert_routes_for(actor=actor).filter(policy=policy),
            "schedules": schedules_for(actor=actor).filter(policy=policy),
            "assignments": assignments_for(actor=actor).filter(policy=policy),
            "assign_form": AssignForm(actor=actor, initial={"level": Level.COMPANY, "company": policy.company_id}),
            "can_assign": actor.has_role(Role.ADMIN)}


POLICIES = Resource(
    slug="policies", noun="policy", title="Policies",
    rows_for=policies_for,
    columns=(Column("Name", "name", "name"),
             Column("Of", "company", "company__name",
                    render=lambda policy: policy.company.name if policy.company_id else "The whole MSP"),
             Column("Enabled", "enabled", "enabled"), Column("Changed", "updated_at", "updated_at")),
    search_fields=("name", "description"),
    default_sort="name",
    form_class=PolicyForm,
    create=services.create_policy,
    update=services.update_policy,
    delete=services.delete_policy,
    create_role=Role.ADMIN, edit_role=Role.ADMIN,
    parent_fields=("company",),
    detail_context=_policy_detail,
    empty_hint="A policy bundles checks and is assigned to the whole MSP, companies, sites, groups, dynamic groups "
               "or devices; the most specific assignment wins where two set the same check.",
)


@login_required
@require_POST
def policy_assign(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(policies_for(actor=request.actor), pk=pk)
    form = AssignForm(request.POST, actor=request.actor)
    if not form.is_valid():
        messages.error(request, "Choose where to assign the policy: " + "; ".join(
            f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
    else:
        try:
            services.assign_policy(actor=request.actor, policy=policy, level=form.cleaned_data["level"],
                                   target=form.target(), order=form.cleaned_data.get("order") or 0,
                                   exclude=form.cleaned_data["exclude"])
            messages.success(request, "Assignment saved.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except ObjectDoesNotExist:
            messages.error(request, "That place does not exist or is not yours.")
    return redirect_to(request, reverse("resource-detail", args=["policies", policy.pk]))


@login_required
@require_POST
def policy_assignment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = get_object_or_404(assignments_for(actor=request.actor), pk=pk)
    services.unassign_policy(actor=request.actor, policyassignment=assignment)
    messages.success(request, "Assignment removed.")
    return redirect_to(request, reverse("resource-detail", args=["policies", assignment.policy_id]))
