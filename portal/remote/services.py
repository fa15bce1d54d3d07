"""Writes of remote sessions: opening one (who may, on which device), its opening and end as the agent reports
them, its transcript and its file operations. Every session and every file operation is audited."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.access import Actor, Role, system_actor
from portal.audit.services import record
from portal.inventory.models import Device, DeviceStatus
from portal.inventory.selectors import devices_for
from portal.remote.models import (
    FileOperation,
    FileTransfer,
    RemoteSession,
    SessionKind,
    SessionStatus,
    TranscriptChunk,
    TransferStatus,
)

ACCOUNT_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


class SessionUnavailable(Exception):
    """The session cannot be opened now (the device is offline); the message says why."""


def require_remote_access(actor: Actor) -> None:
    """A person signed in to the dashboard, an operator or above, granted remote sessions (admins always are)."""
    if actor.user_id is None or actor.via_token or actor.is_system:
        raise PermissionDenied("Remote sessions are opened by a person signed in to the dashboard.")
    if not actor.has_role(Role.OPERATOR) or not actor.may_open_remote_sessions:
        raise PermissionDenied("You may not open remote sessions; an admin can grant it on your user page.")


@transaction.atomic
def open_session(*, actor: Actor, device_id: int, kind: str, run_as: str = "", shell: str = "") -> RemoteSession:
    """A new session on one of the actor's devices, waiting for the agent (Device.DoesNotExist if not theirs)."""
    require_remote_access(actor)
    device = devices_for(actor=actor).get(pk=device_id)
    if kind not in SessionKind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(SessionKind.values)}."})
    run_as = run_as.strip()
    if run_as and (kind != SessionKind.SHELL or not ACCOUNT_PATTERN.fullmatch(run_as)):
        raise ValidationError({"run_as": "An account name of letters, digits, '.', '_' or '-' (shells only)."})
    if shell not in {value for value, _ in RemoteSession._meta.get_field("shell").choices}:
        raise ValidationError({"shell": "Choose one of the offered shells."})
    if device.status != DeviceStatus.ONLINE or not device.agent_channel:
        raise SessionUnavailable(f"{device} is not connected; a session needs its agent online.")
    session = RemoteSession.objects.create(
        company_id=device.company_id, device=device, kind=kind, user_id=actor.user_id, user_label=actor.label,
        client_ip=actor.ip_address, run_as=run_as, shell=shell if kind == SessionKind.SHELL else "",
        consent_required=device.company.remote_consent_required)
    record(actor=actor, action="remote_session.requested", target=session, company_id=device.company_id,
           after={"device": device.pk, "kind": kind, "run_as": run_as, "session": session.key.hex})
    return session


CLAIM_WITHIN_MINUTES = 5


def claim_session(*, actor: Actor, key: str) -> RemoteSession | None:
    """The session the actor asked for a moment ago, taken by the one browser socket that will carry it
    (None when it is not theirs, no longer waiting, or another socket took it)."""
    require_remote_access(actor)
    now = timezone.now()
    session = RemoteSession.objects.select_related("device", "company").filter(
        key=key, user_id=actor.user_id, status=SessionStatus.OPENING, last_activity_at__isnull=True,
        requested_at__gte=now - timedelta(minutes=CLAIM_WITHIN_MINUTES)).first()
    if session is None or not devices_for(actor=actor).filter(pk=session.device_id).exists():
        return None
    if not RemoteSession.objects.filter(pk=session.pk, last_activity_at__isnull=True).update(last_activity_at=now):
        return None
    return session


def mark_opened(*, session_id: int) -> bool:
    now = timezone.now()
    return bool(RemoteSession.objects.filter(pk=session_id, status=SessionStatus.OPENING).update(
        status=SessionStatus.OPEN, opened_at=now, last_activity_at=now))


@dataclass(frozen=True)
class SessionTotals:
    bytes_to_device: int = 0
    bytes_from_device: int = 0
    transcript_truncated: bool = False


@transaction.atomic
def end_session(*, actor: Actor, session_id: int, reason: str, refused: bool = False, exit_code: int | None = None,
                totals: SessionTotals = SessionTotals()) -> bool:
    """The session ended (or the agent refused it); recorded once, whoever reports it first."""
    session = RemoteSession.objects.select_for_update().filter(pk=session_id, ended_at__isnull=True).first()
    if session is None:
        return False
    session.status = SessionStatus.REFUSED if refused else SessionStatus.ENDED
    session.ended_at = timezone.now()
    session.end_reason = reason[:300]
    session.exit_code = exit_code
    session.bytes_to_device = totals.bytes_to_device
    session.bytes_from_device = totals.bytes_from_device
    session.transcript_truncated = totals.transcript_truncated
    session.save(update_fields=["status", "ended_at", "end_reason", "exit_code", "bytes_to_device",
                                "bytes_from_device", "transcript_truncated"])
    record(actor=actor, action="remote_session.refused" if refused else "remote_session.ended", target=session,
           company_id=session.company_id, after={
               "reason": session.end_reason, "exit_code": exit_code, "bytes_to_device": totals.bytes_to_device,
               "bytes_from_device": totals.bytes_from_device,
               "seconds": session.duration_seconds})
    return True


def store_transcript_chunks(chunks: Iterable[tuple[int, int, bytes, int]]) -> None:
    """(session id, seq, compressed data, raw bytes) of any number of sessions, in one transaction."""
    chunks = list(chunks)
    if not chunks:
        return
    now = timezone.now()
    with transaction.atomic():
        companies = dict(RemoteSession.objects.filter(pk__in={c[0] for c in chunks}).values_list("pk", "company_id"))
        TranscriptChunk.objects.bulk_create([
            TranscriptChunk(session_id=session_id, seq=seq, data=data, raw_bytes=raw)
            for session_id, seq, data, raw in chunks if session_id in companies], ignore_conflicts=True)
        added: dict[int, int] = {}
        for session_id, _, _, raw in chunks:
            added[session_id] = added.get(session_id, 0) + raw
        for session_id, raw in added.items():
            RemoteSession.objects.filter(pk=session_id).update(
                transcript_bytes=F("transcript_bytes") + raw, last_activity_at=now)


def start_transfer(*, actor: Actor, session: RemoteSession, operation: str, path: str, target_path: str = "",
                   size: int | None = None, sha256: str = "") -> FileTransfer:
    if operation not in FileOperation.values:
        raise ValidationError({"operation": "Unknown file operation."})
    transfer = FileTransfer.objects.create(session=session, operation=operation, path=path[:1024],
                                           target_path=target_path[:1024], size=size, sha256=sha256)
    RemoteSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    return transfer


def finish_transfer(*, actor: Actor, transfer_id: int, ok: bool, size: int | None = None, sha256: str = "",
                    error: str = "") -> FileTransfer | None:
    transfer = FileTransfer.objects.select_related("session").filter(
        pk=transfer_id, status=TransferStatus.RUNNING).first()
    if transfer is None:
        return None
    transfer.status = TransferStatus.SUCCEEDED if ok else TransferStatus.FAILED
    transfer.finished_at = timezone.now()
    transfer.error = error[:500]
    if size is not None:
        transfer.size = size
    transfer.sha256 = sha256 or transfer.sha256
    transfer.save(update_fields=["status", "finished_at", "error", "size", "sha256"])
    record(actor=actor, action=f"remote_file.{transfer.operation}", target=transfer.session,
           company_id=transfer.session.company_id, after={
               "path": transfer.path, "to": transfer.target_path, "size": transfer.size, "sha256": transfer.sha256,
               "status": transfer.status, "error": transfer.error})
    return transfer


def remove_old_transcripts(*, now: datetime | None = None) -> int:
    """Transcripts past the retention period are removed; the session rows (the audit) stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.FLEETWATCH_REMOTE_TRANSCRIPT_DAYS)
    expired = RemoteSession.objects.filter(ended_at__lt=cutoff, transcript_removed_at__isnull=True,
                                           transcript_bytes__gt=0)
    ids = list(expired.values_list("pk", flat=True)[:1000])
    if not ids:
        return 0
    with transaction.atomic():
        TranscriptChunk.objects.filter(session_id__in=ids).delete()
        RemoteSession.objects.filter(pk__in=ids).update(transcript_removed_at=now or timezone.now())
    return len(ids)


def end_abandoned_sessions(*, now: datetime | None = None) -> int:
    """Sessions whose server process went away without ending them (a restart): ended, once they have been
    silent for longer than the idle timeout (the agent has closed them by then)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.FLEETWATCH_REMOTE_IDLE_MINUTES + 5)
    stale = RemoteSession.objects.filter(ended_at__isnull=True, requested_at__lt=cutoff).exclude(
        last_activity_at__gte=cutoff)
    ended = 0
    for session_id in stale.values_list("pk", flat=True)[:1000]:
        ended += end_session(actor=system_actor("remote session sweep"), session_id=session_id,
                             reason="abandoned: the server lost track of it (restarted?)")
    return ended


def devices_reachable(*, device_ids: Iterable[int]) -> dict[int, str]:
    """The channels of the given devices' connected agents (a session's messages go straight there)."""
    return dict(Device.objects.filter(pk__in=list(device_ids), status=DeviceStatus.ONLINE).exclude(
        agent_channel="").values_list("pk", "agent_channel"))
