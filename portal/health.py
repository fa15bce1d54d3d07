"""``GET /api/health/``: is the database, the channel layer and the task queue answering?"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import Broker, get_broker
from django_q.status import Stat

from portal.operations.selectors import processes_seen

logger = logging.getLogger(__name__)
CHANNEL_LAYER_TIMEOUT_SECONDS = 3


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "vendor": connection.vendor}


def check_channel_layer() -> dict[str, Any]:
    """Send a message to a fresh channel and read it back."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip() -> None:
        # The default prefix matters with Redis: a process reads all its sockets' messages through one
        # receive loop per prefix, and a connected socket holds that loop on its own prefix. A "health."
        # channel would wait behind it until a socket got a message, reporting a healthy layer as down.
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        await asyncio.wait_for(layer.receive(channel), timeout=CHANNEL_LAYER_TIMEOUT_SECONDS)

    async_to_sync(round_trip)()
    return {"status": "ok", "backend": type(layer).__name__}


def check_task_queue(*, broker: Broker | None = None) -> dict[str, Any]:
    """Ask the broker for its queue length (a real round trip for both brokers) and count clusters."""
    broker = broker or get_broker()
    queued = broker.queue_size()
    try:
        clusters = len(Stat.get_all(broker=broker))
    except Exception:  # cluster statistics are informative only
        clusters = None
    return {"status": "ok", "broker": "redis" if "redis" in settings.Q_CLUSTER else "orm",
            "queued": queued, "clusters": clusters}


CHECKS = {"database": check_database, "channel_layer": check_channel_layer, "task_queue": check_task_queue}


def run_checks() -> dict[str, dict[str, Any]]:
    """Run every check; a failing check reports its error kind, never credentials or tracebacks."""
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as error:
            logger.warning("health check %s failed: %s: %s", name, type(error).__name__, error)
            results[name] = {"status": "error", "error": type(error).__name__}
    return results


def _process_summary() -> dict[str, dict[str, Any]]:
    """How many processes of each kind beat lately, and the oldest beat's age; hosts and pids are on the
    signed-in System page, not here (this answer is public)."""
    try:
        seen = processes_seen()
    except Exception as error:
        logger.warning("could not list server processes: %s: %s", type(error).__name__, error)
        return {}
    summary: dict[str, dict[str, Any]] = {}
    for process in seen:
        kind = summary.setdefault(process.kind, {"beating": 0, "silent": 0, "oldest_beat_seconds": 0.0})
        kind["beating" if process.alive else "silent"] += 1
        kind["oldest_beat_seconds"] = round(max(kind["oldest_beat_seconds"], process.seconds_since_beat), 1)
    return summary


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    components = run_checks()
    healthy = all(component["status"] == "ok" for component in components.values())
    body = {"status": "ok" if healthy else "error", "version": settings.FLEETWATCH_VERSION, **components,
            "processes": _process_summary()}
    return JsonResponse(body, status=200 if healthy else 503)
