"""Embedded mode: each server process tails the event table and relays new events to its own sockets."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from portal.events.models import RealtimeEvent
from portal.events.publish import uses_event_table

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.2
BATCH = 500
KEEP_MINUTES = 10
PRUNE_EVERY_SECONDS = 60

_relay_task: asyncio.Task | None = None


def _latest_id() -> int:
    return RealtimeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events_after(last_id: int) -> list[tuple[int, str, dict]]:
    return list(RealtimeEvent.objects.filter(id__gt=last_id).order_by("id")
                .values_list("id", "group", "message")[:BATCH])


def _prune() -> None:
    RealtimeEvent.objects.filter(created_at__lt=timezone.now() - timedelta(minutes=KEEP_MINUTES)).delete()


async def _relay_forever() -> None:
    layer = get_channel_layer()
    last_id = await database_sync_to_async(_latest_id)()
    loop = asyncio.get_running_loop()
    next_prune = loop.time() + PRUNE_EVERY_SECONDS
    while True:
        try:
            events = await database_sync_to_async(_events_after)(last_id)
            for event_id, group, message in events:
                await layer.group_send(group, message)
                last_id = event_id
            if loop.time() >= next_prune:
                await database_sync_to_async(_prune)()
                next_prune = loop.time() + PRUNE_EVERY_SECONDS
            if len(events) < BATCH:
                await asyncio.sleep(POLL_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A locked or briefly unreachable database must not end realtime for this process.
            logger.exception("realtime relay failed; retrying")
            await asyncio.sleep(1)


def ensure_relay_running() -> None:
    """Start this process's relay once (called by every consumer on connect); no-op with Redis."""
    global _relay_task
    if not uses_event_table():
        return
    loop = asyncio.get_running_loop()
    if _relay_task is None or _relay_task.done() or _relay_task.get_loop() is not loop:
        _relay_task = loop.create_task(_relay_forever(), name="fleetwatch-event-relay")
