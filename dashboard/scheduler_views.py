"""The scheduler page: every scheduled job of the product, switch on or off, interval, run now, its log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_q.models import Schedule

from portal import jobs
from portal.access import is_msp_admin
from portal.pages import redirect_to


def _schedule(request: HttpRequest, pk: int) -> Schedule:
    job = jobs.job_for(actor=request.actor, schedule_id=pk)
    if job is None:
        raise Http404("No such scheduled job.")
    return job.schedule


@login_required
def scheduler(request: HttpRequest) -> HttpResponse:
    if not is_msp_admin(request.actor):
        raise Http404("The scheduler is for administrators who see every company.")
    return render(request, "web/scheduler.html", {"jobs": jobs.scheduled_jobs_for(actor=request.actor)})


@login_required
def scheduler_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = jobs.job_for(actor=request.actor, schedule_id=pk)
    if job is None:
        raise Http404("No such scheduled job.")
    return render(request, "web/scheduler_job.html", {"job": job, "log": jobs.job_log(schedule=job.schedule)})


def _apply(request: HttpRequest, pk: int, change: str) -> HttpResponse:
    schedule = _schedule(request, pk)
    try:
        if change == "enable":
            jobs.set_job_enabled(actor=request.actor, schedule=schedule, enabled=request.POST.get("enabled") == "on")
        elif change == "interval":
            raw = request.POST.get("minutes", "")
            jobs.set_job_interval(actor=request.actor, schedule=schedule, minutes=int(raw) if raw.isdigit() else 0)
        else:
            jobs.run_job_now(actor=request.actor, schedule=schedule)
            messages.info(request, f"“{schedule.name}” queued; its run appears in the log when it finishes.")
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    return redirect_to(request, request.POST.get("next") if request.POST.get("next") == reverse("scheduler")
                       else reverse("scheduler-job", args=[pk]))


@login_required
@require_POST
def scheduler_enable(request: HttpRequest, pk: int) -> HttpResponse:
    return _apply(request, pk, "enable")


@login_required
@require_POST
def scheduler_interval(request: HttpRequest, pk: int) -> HttpResponse:
    return _apply(request, pk, "interval")


@login_required
@require_POST
def scheduler_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    return _apply(request, pk, "run")
