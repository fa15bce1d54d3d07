"""Pages that run things: the run-an-action form (one device or many), cancel, bulk progress,
profile tasks and template instantiation. Library and history pages use the generic resource views."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.action_forms import ProfileTaskForm, RunActionForm, RunKind, parameter_values
from dashboard.views import attach_errors
from portal.access import Actor, Role, require_msp_admin, require_role
from portal.actions import services
from portal.actions.selectors import actions_for, batch_summary, batches_for, profiles_for
from portal.actions.specs import ActionSpec, patches_spec, reboot_spec, script_spec, software_spec
from portal.inventory.selectors import devices_for, pending_patches_for
from portal.pages import redirect_to

BATCH_PAGE_SIZE = 100


def _spec(actor: Actor, form: RunActionForm) -> ActionSpec | None:
    data = form.cleaned_data
    kind = data["kind"]
    if kind in (RunKind.SCRIPT, RunKind.INLINE):
        return script_spec(actor=actor, script=data.get("script") if kind == RunKind.SCRIPT else None,
                           inline_content=data.get("content") if kind == RunKind.INLINE else None,
                           inline_language=data.get("language") or None,
                           parameters=parameter_values(form) if kind == RunKind.SCRIPT else None,
                           arguments=data.get("arguments") or None, environment=data.get("environment") or None,
                           timeout=data.get("timeout"), run_as=data.get("run_as") or "")
    if kind == RunKind.REBOOT:
        return reboot_spec(actor=actor, delay_seconds=data.get("delay_seconds") or 0, message=data.get("message") or "")
    if kind == RunKind.PATCHES:
        return patches_spec(actor=actor, patch_ids=data["patch_ids"], reboot_after=data.get("reboot_after", False))
    if kind == RunKind.SOFTWARE:
        return software_spec(actor=actor, software=data["software"])
    return None  # a profile: its tasks make their own specs


@login_required
@require_http_methods(["GET", "POST"])
def action_new(request: HttpRequest) -> HttpResponse:
    """Run an action: on the devices picked in the list (``?device=``), or on a group, site or company."""
    require_role(request.actor, Role.OPERATOR)
    scoped_devices = devices_for(actor=request.actor)
    picked_ids = [value for value in request.GET.getlist("device") if value.isdigit()]
    initial = {"kind": request.GET.get("kind", RunKind.SCRIPT), "device": picked_ids,
               "script": request.GET.get("script", ""), "dynamic_group": request.GET.get("dynamic_group", "")}
    if initial["kind"] == RunKind.PATCHES and len(picked_ids) == 1:
        # One device: offer the patches its agent reported as pending, one per line, to trim.
        initial["patch_ids"] = list(pending_patches_for(actor=request.actor).filter(
            device_id=picked_ids[0]).values_list("update__identifier", flat=True)[:500])
    form = RunActionForm(request.POST or None, actor=request.actor, devices_queryset=scoped_devices,
                         initial=initial)
    outcome = None
    if request.method == "POST" and form.is_valid():
        try:
            outcome = _run(request.actor, form)
        except ValidationError as error:
            attach_errors(form, error)
        except (PermissionDenied, ObjectDoesNotExist) as refused:
            form.add_error(None, str(refused) or "Not allowed.")
        if isinstance(outcome, str):
            return redirect_to(request, outcome)
    if form.is_bound:
        picked = list(getattr(form, "cleaned_data", {}).get("device") or []) if not form.data.get("target") else []
    else:
        picked = list(scoped_devices.filter(pk__in=picked_ids)[:500])
    picked_query = "".join(f"&device={device.pk}" for device in picked)
    return render(request, "web/action_new.html", {"form": form, "picked": picked, "skipped": outcome,
                                                   "picked_query": picked_query, "os_field": [form["os_type"]]})


def _run(actor: Actor, form: RunActionForm) -> str | list[tuple[Any, str]]:
    """Queue the action; returns the page to go to, or the skipped devices when nothing could be queued."""
    data = form.cleaned_data
    targets = services.Targets(device_ids=tuple(device.pk for device in data.get("device") or ()),
                               group=data.get("group"), site=data.get("site"), company=data.get("company"),
                               dynamic_group=data.get("dynamic_group"), os_type=data.get("os_type") or None)
    spec = _spec(actor, form)
    result = services.run_on_targets(actor=actor, targets=targets, spec=spec, profile=None if spec else data["profile"])
    if result.action is not None:
        return reverse("resource-detail", args=["actions", result.action.pk])
    if result.batch is None:
        if not result.skipped:
            raise ValidationError("No device matches this target and OS filter.")
        return result.skipped
    return reverse("batch-detail", args=[result.batch.pk])


@login_required
@require_http_methods(["GET"])
def action_parameters(request: HttpRequest) -> HttpResponse:
    """The typed inputs of the script picked on the run form (swapped in by htmx when the pick changes)."""
    require_role(request.actor, Role.OPERATOR)
    form = RunActionForm(actor=request.actor, devices_queryset=devices_for(actor=request.actor).none(),
                         initial={"script": request.GET.get("script", "")})
    return render(request, "web/partials/_script_parameters.html", {"form": form})


@login_required
@require_POST
def action_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    action = get_object_or_404(actions_for(actor=request.actor), pk=pk)
    with contextlib.suppress(ValidationError):  # it finished meanwhile; the page shows how
        services.cancel_action(actor=request.actor, action=action)
    return redirect_to(request, reverse("resource-detail", args=["actions", pk]))


@login_required
@require_http_methods(["GET"])
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A bulk run or profile roll-out: a live progress bar, the summary, and its actions."""
    batch = get_object_or_404(batches_for(actor=request.actor), pk=pk)
    actions = actions_for(actor=request.actor).filter(batch=batch).order_by("device_label", "id")
    context = {"batch": batch, "summary": batch_summary(actor=request.actor, batch=batch),
               "actions": actions[:BATCH_PAGE_SIZE], "more": max(actions.count() - BATCH_PAGE_SIZE, 0)}
    return render(request, "web/batch_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def profile_task_new(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(profiles_for(actor=request.actor), pk=pk)
    require_msp_admin(request.actor, what="Deployment profiles")
    form = ProfileTaskForm(request.POST or None, actor=request.actor)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_profile_task(actor=request.actor, profile=profile, **form.service_arguments())
            return redirect_to(request, reverse("resource-detail", args=["profiles", pk]))
        except ValidationError as error:
            form.add_error(None, error)
    return render(request, "web/profile_task_form.html", {"profile": profile, "form": form})


@login_required
@require_POST
def profile_task_delete(request: HttpRequest, pk: int, task_pk: int) -> HttpResponse:
    profile = get_object_or_404(profiles_for(actor=request.actor), pk=pk)
    task = get_object_or_404(profile.tasks.all(), pk=task_pk)
    services.delete_profile_task(actor=request.actor, profiletask=task)
    return redirect_to(request, reverse("resource-detail", args=["profiles", pk]))


@login_required
@require_POST
def profile_instantiate(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(profiles_for(actor=request.actor), pk=pk)
    name = (request.POST.get("name") or "").strip() or f"{template.name} (copy)"
    try:
        profile = services.instantiate_template(actor=request.actor, template=template, name=name,
                                               description=request.POST.get("description") or None)
    except ValidationError as error:
        return render(request, "web/error.html", {"title": "Cannot copy this", "message": " ".join(error.messages)},
                      status=400)
    return redirect_to(request, reverse("resource-detail", args=["profiles", profile.pk]))
