"""Process beats: each web process writes its row every few seconds (read by portal/operations/selectors.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from portal.access import rows_for_system
from portal.operations.models import ServerProcess

logger = logging.getLogger(__name__)
BEAT_SECONDS = 10
STALE_AFTER_SECONDS = 3 * BEAT_SECONDS
FORGET_AFTER = timedelta(days=1)  # a process gone this long is dropped from the list

_started_at = timezone.now()
_beat_task: asyncio.Task | None = None
_agents_connected = 0


def agent_connected() -> None:
    global _agents_connected
    _agents_connected += 1


def agent_disconnected() -> None:
    global _agents_connected
    _agents_connected = max(0, _agents_connected - 1)


def beat(*, kind: str = ServerProcess.Kind.WEB, agents_connected: int = 0) -> None:
    now = timezone.now()
    rows_for_system(ServerProcess).update_or_create(
        kind=kind, host=socket.gethostname()[:255], pid=os.getpid(),
        defaults={"version": settings.FLEETWATCH_VERSION, "started_at": _started_at, "last_beat_at": now,
                  "agents_connected": agents_connected})
    rows_for_system(ServerProcess).filter(last_beat_at__lt=now - FORGET_AFTER).delete()


async def _beat_forever() -> None:
    while True:
        try:
            await database_sync_to_async(beat)(agents_connected=_agents_connected)
        except asyncio.CancelledError:
            raise
        except Exception:  # a locked or briefly unreachable database: the next beat tries again
            logger.warning("could not record this process's beat", exc_info=True)
        await asyncio.sleep(BEAT_SECONDS)


def ensure_beating() -> None:
    """Start this web process's beat once, on the loop that serves it."""
    global _beat_task
    loop = asyncio.get_running_loop()
    if _beat_task is None or _beat_task.done() or _beat_task.get_loop() is not loop:
        _beat_task = loop.create_task(_beat_forever(), name="fleetwatch-process-beat")
