"""Reads of remote sessions, always through the tenancy rule."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from portal.access import Actor, visible_to
from portal.remote.models import FileTransfer, RemoteSession, TranscriptChunk
from portal.remote.transcripts import Transcript, transcript_of

# A search reads transcripts back, so it looks through the latest sessions only, up to a number and a size.
SEARCHED_SESSIONS = 200
SEARCHED_BYTES = 256 * 1024 * 1024


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


@dataclass(frozen=True)
class SearchResult:
    found: list[Found]
    searched: int  # sessions read
    complete: bool  # False: older sessions were left out (the limits above)


def search_sessions(*, actor: Actor, device_id: int, query: str) -> SearchResult:
    """The device's shell sessions whose transcript (output or keystrokes) holds every word of ``query``, newest
    first, reading at most SEARCHED_SESSIONS transcripts and SEARCHED_BYTES of them."""
    words = [word.lower() for word in query.split() if word]
    recorded = sessions_for(actor=actor).filter(device_id=device_id, transcript_bytes__gt=0,
                                                transcript_removed_at__isnull=True)
    found, searched, read = [], 0, 0
    if words:
        for session in recorded[:SEARCHED_SESSIONS]:
            if searched and read + session.transcript_bytes > SEARCHED_BYTES:
                break
            transcript = transcript_for(actor=actor, session=session)
            searched, read = searched + 1, read + session.transcript_bytes
            if transcript.matches(words):
                found.append(Found(session=session, snippets=transcript.snippets(words)))
    return SearchResult(found=found, searched=searched, complete=searched >= recorded.count())
