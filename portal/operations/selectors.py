"""Which server processes are alive: web processes from their beats, task clusters from django-q2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.status import Stat

from portal.access import rows_for_system
from portal.operations.models import ServerProcess
from portal.operations.services import STALE_AFTER_SECONDS


@dataclass(frozen=True)
class ProcessSeen:
    kind: str
    host: str
    pid: int
    version: str
    started_at: datetime
    last_beat_at: datetime
    seconds_since_beat: float
    alive: bool
    agents_connected: int | None
    detail: str = ""


def processes_seen() -> list[ProcessSeen]:
    """Every process that beat within the last day: web processes from their rows, task clusters from
    django-q2's own statistics."""
    now = timezone.now()
    seen = [ProcessSeen(kind=row.kind, host=row.host, pid=row.pid, version=row.version, started_at=row.started_at,
                        last_beat_at=row.last_beat_at, seconds_since_beat=(now - row.last_beat_at).total_seconds(),
                        alive=(now - row.last_beat_at).total_seconds() <= STALE_AFTER_SECONDS,
                        agents_connected=row.agents_connected)
            for row in rows_for_system(ServerProcess).all()]
    return seen + _clusters(now)


def _clusters(now: datetime) -> list[ProcessSeen]:
    try:
        stats = Stat.get_all(broker=get_broker())
    except Exception:  # cluster statistics are informative only
        return []
    clusters = []
    for stat in stats:
        beat_at = stat.timestamp if timezone.is_aware(stat.timestamp) else timezone.make_aware(stat.timestamp)
        born = stat.tob if timezone.is_aware(stat.tob) else timezone.make_aware(stat.tob)
        age = (now - beat_at).total_seconds()
        clusters.append(ProcessSeen(
            kind="task cluster", host=stat.host, pid=stat.pid, version=settings.FLEETWATCH_VERSION,
            started_at=born, last_beat_at=beat_at, seconds_since_beat=age, alive=age <= STALE_AFTER_SECONDS,
            agents_connected=None, detail=f"{len(stat.workers)} workers, {stat.status}"))
    return clusters
