"""django-q2 entry points for remote sessions; each only calls a service."""

from __future__ import annotations

from portal.builtin_jobs import BuiltInJob
from portal.remote.services import end_abandoned_sessions, remove_old_transcripts


def tidy_remote_sessions_task() -> str:
    ended = end_abandoned_sessions()
    removed = remove_old_transcripts()
    return f"{ended} abandoned session(s) ended, {removed} transcript(s) past retention removed"


BUILT_IN_JOBS = (
    BuiltInJob(name="Tidy remote sessions", func="portal.remote.tasks.tidy_remote_sessions_task", minutes=10,
               description="Ends remote sessions a restarted server lost track of, and removes shell transcripts "
                           "older than FLEETWATCH_REMOTE_TRANSCRIPT_DAYS."),
)
