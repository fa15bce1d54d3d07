"""Reads of remote sessions, always through the tenancy rule."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from portal.access import Actor, visible_to
from portal.remote.models import FileTransfer, RemoteSession, TranscriptChunk
from portal.remote.transcripts import Transcript, transcript_of

# A search reads transcripts back, so it looks through a bounded number of recent sessions.
SEARCHED_SESSIONS = 200


def sessions_for(*, actor: Actor) -> QuerySet[RemoteSession]:
    return visible_to(RemoteSession.objects.select_related("device", "company"), actor)


def transfers_for(*, actor: Actor) -> QuerySet[FileTransfer]:
    return visible_to(FileTransfer.objects.select_related("session", "session__device"), actor)


def transcript_for(*, actor: Actor, session: RemoteSession) -> Transcript:
    chunks = visible_to(TranscriptChunk.objects.filter(session=session), actor).order_by("seq")
    return transcript_of(chunks.values_list("data", flat=True).iterator())


@dataclass(frozen=True)
class Found:
    session: RemoteSession
    snippets: list[str]


def search_sessions(*, actor: Actor, device_id: int, query: str) -> list[Found]:
    """The device's shell sessions whose transcript (output or keystrokes) holds every word of ``query``."""
    words = [word.lower() for word in query.split() if word]
    if not words:
        return []
    found = []
    recent = sessions_for(actor=actor).filter(device_id=device_id, transcript_bytes__gt=0,
                                              transcript_removed_at__isnull=True)[:SEARCHED_SESSIONS]
    for session in recent:
        transcript = transcript_for(actor=actor, session=session)
        if transcript.matches(words):
            found.append(Found(session=session, snippets=transcript.snippets(words)))
    return found
