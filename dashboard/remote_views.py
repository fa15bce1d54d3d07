"""Remote sessions on the dashboard: "Open shell" and "Browse files" on a device's page, the session page (a live
terminal or file browser for the user who opened it, the record for everyone else who may see it), the
transcript, and the list of every session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portal.access import Actor
from portal.inventory.models import Device
from portal.pages import Column, ListFilter, Resource, company_choices, static_choices
from portal.remote import services
from portal.remote.models import RemoteSession, SessionKind, SessionStatus
from portal.remote.selectors import sessions_for, transcript_for, transfers_for

PREVIEW_CHARS = 20_000


def _is_waiting_for(actor: Actor, session: RemoteSession) -> bool:
    """The page opens the live session: it is this user's, just asked for, and no socket has taken it yet."""
    return (session.user_id == actor.user_id and session.status == SessionStatus.OPENING
            and session.last_activity_at is None
            and session.requested_at >= timezone.now() - timedelta(minutes=services.CLAIM_WITHIN_MINUTES))


def _session_detail(actor: Actor, session: RemoteSession) -> dict[str, Any]:
    live = _is_waiting_for(actor, session)
    context: dict[str, Any] = {"live": live, "transfers": transfers_for(actor=actor).filter(session=session)[:200],
                               "upload_limit_mb": settings.FLEETWATCH_REMOTE_FILE_MAX_MB}
    if not live and session.kind == SessionKind.SHELL and session.transcript_bytes:
        transcript = transcript_for(actor=actor, session=session)
        context["preview"] = transcript.output[-PREVIEW_CHARS:]
        context["preview_cut"] = len(transcript.output) > PREVIEW_CHARS
        context["keystrokes"] = transcript.keystrokes[:200]
    return context


REMOTE_SESSIONS = Resource(
    slug="remote-sessions", noun="remotesession", title="Remote sessions",
    rows_for=sessions_for,
    columns=(Column("Session", "__str__"), Column("Device", "device.hostname", "device__hostname"),
             Column("Company", "company.name", "company__name"), Column("Kind", "get_kind_display", "kind"),
             Column("User", "user_label", "user_label"), Column("Status", "get_status_display", "status"),
             Column("Requested", "requested_at", "requested_at"), Column("Ended", "ended_at", "ended_at"),
             Column("To the device (bytes)", "bytes_to_device", "bytes_to_device"),
             Column("From the device (bytes)", "bytes_from_device", "bytes_from_device")),
    search_fields=("device__hostname", "user_label", "end_reason", "company__name"), default_sort="-requested_at",
    date_filter="requested_at", detail_context=_session_detail,
    hidden_fields=("key", "user", "last_activity_at", "transcript_truncated", "transcript_removed_at"),
    empty_hint="Shells and file sessions opened on devices appear here, with who opened them and for how long.",
    filters=(ListFilter("company", "Company", "company_id", company_choices),
             ListFilter("kind", "Kind", "kind", static_choices(list(SessionKind.choices))),
             ListFilter("status", "Status", "status", static_choices(list(SessionStatus.choices))),
             ListFilter("device", "Device", "device_id", None)),
)


@login_required
@require_POST
def remote_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Open a shell or a file browser on a device, then go to the session's page (which connects it)."""
    device_url = reverse("resource-detail", args=["devices", pk])
    try:
        session = services.open_session(actor=request.actor, device_id=pk, kind=request.POST.get("kind", ""),
                                        run_as=request.POST.get("run_as", ""), shell=request.POST.get("shell", ""))
    except Device.DoesNotExist:
        return render(request, "web/error.html", {"message": "No such device."}, status=404)
    except PermissionDenied as refused:
        messages.error(request, str(refused))
        return redirect(device_url)
    except (ValidationError, services.SessionUnavailable) as problem:
        messages.error(request, "; ".join(getattr(problem, "messages", [str(problem)])))
        return redirect(device_url)
    return redirect("resource-detail", "remote-sessions", session.pk)


@login_required
@require_GET
def remote_transcript(request: HttpRequest, pk: int) -> HttpResponse:
    """A shell's whole transcript: the output as text, and every keystroke with its time; ``?raw=1`` downloads
    the output as the terminal received it (replay it with ``cat`` in a terminal)."""
    session = get_object_or_404(sessions_for(actor=request.actor), pk=pk)
    transcript = transcript_for(actor=request.actor, session=session)
    if request.GET.get("raw"):
        response = HttpResponse(transcript.raw_output, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="session-{session.key.hex[:8]}.typescript"'
        return response
    return render(request, "web/remote/transcript.html", {"object": session, "transcript": transcript})
