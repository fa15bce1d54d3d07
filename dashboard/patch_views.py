"""The patch pages: the catalogue and one update, the approval queue, compliance (MSP-wide and per company, with
its history and the client report), a device's updates, and a policy's patching and windows.

Every object is looked up through the reader's scope (another company's answers 404) and every write goes
through the patching services."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard.charts import compliance_series
from dashboard.patch_forms import PatchPolicyForm, PatchWindowForm, ReportScheduleForm
from portal.access import Role, is_msp_admin
from portal.inventory.models import UpdateCategory, UpdateSeverity, UpdateSource
from portal.inventory.selectors import devices_for
from portal.pages import redirect_to
from portal.patching import selectors, services
from portal.patching.compliance import compliance_by_company, history, total
from portal.patching.evaluation import STATE_LABELS, evaluate
from portal.patching.models import Decision
from portal.patching.reports import build_report, report_csv, report_name, report_pdf
from portal.policies.selectors import policies_for
from portal.tenancy.selectors import companies_for

PAGE_SIZE = 50


def _explain(request: HttpRequest, error: Exception) -> None:
    if isinstance(error, ValidationError):
        messages.error(request, " ".join(error.messages))
    elif isinstance(error, ObjectDoesNotExist):
        messages.error(request, "That does not exist or is not yours.")
    else:
        messages.error(request, str(error))


@login_required
def patch_catalogue(request: HttpRequest) -> HttpResponse:
    params = request.GET
    chosen = {name: params.get(name, "") for name in ("q", "category", "severity", "source", "sort", "all")}
    rows = selectors.catalogue(actor=request.actor, search=chosen["q"][:200], category=chosen["category"],
                               severity=chosen["severity"], source=chosen["source"],
                               only_needed=chosen["all"] != "1", sort=chosen["sort"] or "needing")
    page = Paginator(rows, PAGE_SIZE).get_page(params.get("page"))
    return render(request, "web/patches/catalogue.html", {
        "page": page, "rows": [selectors.catalogue_row(entry) for entry in page], "chosen": chosen,
        "categories": UpdateCategory.choices,
        "severities": [choice for choice in UpdateSeverity.choices if choice[0]],
        "sources": UpdateSource.choices, "query": params.urlencode()})


@login_required
def patch_update(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request.actor
    update = get_object_or_404(selectors.updates_for(actor=actor), pk=pk)
    page = Paginator(selectors.devices_needing(actor=actor, update=update).order_by("hostname", "pk"),
                     PAGE_SIZE).get_page(request.GET.get("page"))
    verdicts = {found.device_id: verdict for found in evaluate(device_ids=[device.pk for device in page])
                for facts, verdict in found.verdicts if facts.pk == update.pk}
    companies = companies_for(actor=actor).filter(devices__pending_patches__update=update).distinct()
    return render(request, "web/patches/update.html", {
        "update": update, "counts": selectors.update_counts(actor=actor, update_ids=[pk]).get(pk),
        "page": page, "rows": [(device, verdicts.get(device.pk)) for device in page],
        "outcomes": selectors.outcomes_for(actor=actor).filter(update=update).order_by("-at")[:100],
        "decisions": selectors.approvals_for(actor=actor).filter(update=update),
        "companies": companies, "can_decide": actor.has_role(Role.OPERATOR)})


@login_required
@require_POST
def patch_update_decide(request: HttpRequest, pk: int) -> HttpResponse:
    update = get_object_or_404(selectors.updates_for(actor=request.actor), pk=pk)
    try:
        company = companies_for(actor=request.actor).get(pk=request.POST.get("company") or 0)
        changed = services.decide_updates(actor=request.actor, company=company, updates=[update],
                                          decision=request.POST.get("decision", ""),
                                          note=request.POST.get("note", "")[:300])
        messages.success(request, f"{update} {request.POST.get('decision')} for {company}." if changed
                         else "Nothing changed: that was decided already.")
    except (ValidationError, ObjectDoesNotExist, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, reverse("patch-update", args=[pk]))


@login_required
def patch_approvals(request: HttpRequest) -> HttpResponse:
    actor = request.actor
    entries = selectors.queue_for(actor=actor).order_by("company__name", "-devices", "update__identifier")
    company = request.GET.get("company", "")
    if company.isdigit():
        entries = entries.filter(company_id=int(company))
    for word in request.GET.get("q", "")[:200].split()[:5]:
        entries = entries.filter(update__title__icontains=word) | entries.filter(update__identifier__icontains=word)
    category = request.GET.get("category", "")
    if category in UpdateCategory.values:
        entries = entries.filter(update__category=category)
    page = Paginator(entries, 100).get_page(request.GET.get("page"))
    return render(request, "web/patches/approvals.html", {
        "page": page, "companies": companies_for(actor=actor).filter(patch_queue__isnull=False).distinct(),
        "chosen": {"company": company, "q": request.GET.get("q", ""), "category": category},
        "categories": UpdateCategory.choices, "can_decide": actor.has_role(Role.OPERATOR),
        "decisions": selectors.approvals_for(actor=actor).filter(device__isnull=True)[:50]})


@login_required
@require_POST
def patch_approvals_decide(request: HttpRequest) -> HttpResponse:
    """Approve or deny the ticked rows of the queue (each row: one update in one company)."""
    ids = [int(value) for value in request.POST.getlist("entry") if value.isdigit()][:1000]
    entries = selectors.queue_for(actor=request.actor).filter(pk__in=ids)
    if not ids or not entries:
        messages.error(request, "Tick the updates to decide on first.")
        return redirect_to(request, reverse("patch-approvals"))
    by_company: dict[Any, list[Any]] = defaultdict(list)
    for entry in entries:
        by_company[entry.company].append(entry.update)
    decided = 0
    try:
        for company, updates in by_company.items():
            decided += services.decide_updates(actor=request.actor, company=company, updates=updates,
                                               decision=request.POST.get("decision", ""),
                                               note=request.POST.get("note", "")[:300])
        messages.success(request, f"{decided} decision(s) saved.")
    except (ValidationError, ObjectDoesNotExist, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, request.POST.get("next") if str(request.POST.get("next", "")).startswith(
        reverse("patch-approvals")) else reverse("patch-approvals"))


@login_required
@require_POST
def patch_decision_clear(request: HttpRequest, pk: int) -> HttpResponse:
    approval = get_object_or_404(selectors.approvals_for(actor=request.actor), pk=pk)
    try:
        services.clear_decision(actor=request.actor, patchapproval=approval)
        messages.success(request, "Decision taken back: the policy's rules decide again.")
    except PermissionDenied as error:
        _explain(request, error)
    back = reverse("device-patches", args=[approval.device_id]) if approval.device_id else reverse("patch-approvals")
    return redirect_to(request, back)


@login_required
def patch_compliance(request: HttpRequest) -> HttpResponse:
    entries = compliance_by_company(actor=request.actor)
    return render(request, "web/patches/compliance.html", {
        "entries": entries, "total": total(entries),
        "charts": compliance_series(history(actor=request.actor))})


@login_required
def patch_compliance_company(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request.actor
    company = get_object_or_404(companies_for(actor=actor), pk=pk)
    report = build_report(actor=actor, company=company)
    schedule = selectors.report_schedules_for(actor=actor).filter(company=company).first()
    form = ReportScheduleForm(initial={"recipients": schedule.recipients, "day_of_month": schedule.day_of_month,
                                       "enabled": schedule.enabled} if schedule else None)
    return render(request, "web/patches/compliance_company.html", {
        "company": company, "report": report, "page": Paginator(report.lines, 100).get_page(request.GET.get("page")),
        "charts": compliance_series(history(actor=actor, company=company)), "schedule": schedule,
        "schedule_form": form, "can_schedule": actor.has_role(Role.ADMIN)})


@login_required
def compliance_report(request: HttpRequest, pk: int, extension: str) -> HttpResponse:
    company = get_object_or_404(companies_for(actor=request.actor), pk=pk)
    report = build_report(actor=request.actor, company=company)
    if extension == "csv":
        response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report_name(report, extension)}"'
    return response


@login_required
@require_POST
def compliance_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    company = get_object_or_404(companies_for(actor=request.actor), pk=pk)
    try:
        if request.POST.get("op") == "delete":
            schedule = get_object_or_404(selectors.report_schedules_for(actor=request.actor), company=company)
            services.delete_report_schedule(actor=request.actor, compliancereportschedule=schedule)
            messages.success(request, "The monthly report is no longer sent.")
        else:
            form = ReportScheduleForm(request.POST)
            if not form.is_valid():
                raise ValidationError([f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()])
            services.set_report_schedule(actor=request.actor, company=company, **form.cleaned_data)
            messages.success(request, "The monthly report is scheduled.")
    except (ValidationError, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, reverse("patch-compliance-company", args=[pk]))


@login_required
def device_patches(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(devices_for(actor=request.actor), pk=pk)
    view = selectors.device_patching(actor=request.actor, device=device)
    return render(request, "web/patches/device.html", {
        "device": device, "view": view, "state_labels": STATE_LABELS,
        "can_act": request.actor.has_role(Role.OPERATOR)})


@login_required
@require_POST
def device_patch_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Scan now, install what is approved now, or approve / deny the ticked updates for this device only."""
    device = get_object_or_404(devices_for(actor=request.actor), pk=pk)
    op = request.POST.get("op")
    try:
        if op == "scan":
            services.scan_now(actor=request.actor, devices=[device])
            messages.success(request, "Asked the device to look for updates; its list follows when it answers.")
        elif op == "install":
            action = services.install_approved_now(actor=request.actor, device=device)
            messages.success(request, f"Queued: {action.title}.")
        elif op in Decision.values:
            ids = [int(value) for value in request.POST.getlist("update") if value.isdigit()][:1000]
            updates = selectors.updates_for(actor=request.actor).filter(pending__device=device, pk__in=ids)
            services.decide_updates(actor=request.actor, company=device.company, device=device, updates=updates,
                                    decision=op, note=request.POST.get("note", "")[:300])
            messages.success(request, f"{op.capitalize()} for this device.")
        else:
            raise Http404("No such operation.")
    except (ValidationError, ObjectDoesNotExist, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, reverse("device-patches", args=[pk]))


@login_required
@require_POST
def policy_patching(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(policies_for(actor=request.actor), pk=pk)
    current = selectors.patch_policies_for(actor=request.actor).filter(policy=policy).first()
    form = PatchPolicyForm(request.POST, instance=current)
    try:
        if not form.is_valid():
            raise ValidationError([f"{form.fields[name].label if name in form.fields else name}: {' '.join(errors)}"
                                   for name, errors in form.errors.items()])
        services.set_patching(actor=request.actor, policy=policy, **form.changes())
        messages.success(request, "Patching saved.")
    except (ValidationError, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, reverse("resource-detail", args=["policies", pk]) + "#patching")


@login_required
@require_POST
def policy_patch_window(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(policies_for(actor=request.actor), pk=pk)
    form = PatchWindowForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError([f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()])
        services.add_patch_window(actor=request.actor, policy=policy, **form.cleaned_data)
        messages.success(request, "Patch window added.")
    except (ValidationError, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, reverse("resource-detail", args=["policies", pk]) + "#patching")


@login_required
@require_POST
def patch_window_delete(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_object_or_404(selectors.patch_windows_for(actor=request.actor), pk=pk)
    try:
        services.delete_patch_window(actor=request.actor, patchwindow=window)
        messages.success(request, "Patch window removed.")
    except PermissionDenied as error:
        _explain(request, error)
    return redirect_to(request, reverse("resource-detail", args=["policies", window.policy_id]) + "#patching")


def patching_of_policy(actor: Any, policy: Any) -> dict[str, Any]:
    """What the policy page shows of patching (its detail context)."""
    current = selectors.patch_policies_for(actor=actor).filter(policy=policy).first()
    return {"patching": current, "patching_form": PatchPolicyForm(instance=current),
            "patch_windows": selectors.patch_windows_for(actor=actor).filter(policy=policy),
            "window_form": PatchWindowForm(), "can_edit_patching": _may_change(actor, policy)}


def _may_change(actor: Any, policy: Any) -> bool:
    return actor.has_role(Role.ADMIN) and (policy.company_id is not None or is_msp_admin(actor))
