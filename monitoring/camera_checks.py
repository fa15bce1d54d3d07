"""The camera check cycle: RTSP checks of every camera that is due (or one queued by "check now"),
concurrently and bounded, each result stored and pushed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from monitoring.models import Camera
from monitoring.rtsp import RtspResult, check
from portal.access import rows_for_system
from portal.events.publish import publish
from portal.locks import unless_running

CHECK_CONCURRENCY = 50
CYCLE_LOCK = "monitoring:camera-cycle"


def store_check_result(*, camera_id: int, result: RtspResult) -> None:
    now = timezone.now()
    camera = rows_for_system(Camera).filter(pk=camera_id).first()
    if camera is None:
        return
    rows_for_system(Camera).filter(pk=camera_id).update(
        status=result.status, status_detail=result.detail[:300], response_ms=result.response_ms, last_checked_at=now,
        next_check_at=now + timedelta(minutes=camera.check_interval_minutes))
    publish("camera.checked", company_id=camera.company_id, id=camera_id, status=result.status)


def check_cameras(*, cameras: list[Camera]) -> dict[str, int]:
    """Check the cameras concurrently (bounded) and store every result."""
    async def run_all() -> list[tuple[int, RtspResult]]:
        bound = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def one(camera: Camera) -> tuple[int, RtspResult]:
            async with bound:
                return camera.pk, await check(url=camera.rtsp_url, username=camera.username,
                                              password=camera.password)
        return list(await asyncio.gather(*(one(camera) for camera in cameras)))

    counts: dict[str, int] = {}
    for camera_id, result in asyncio.run(run_all()) if cameras else []:
        store_check_result(camera_id=camera_id, result=result)
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def check_due_cameras() -> dict[str, int] | None:
    """One check cycle of the cameras whose interval has passed; skipped while the previous one runs."""
    def due() -> list[Camera]:
        return list(rows_for_system(Camera).filter(Q(next_check_at__isnull=True)
                                          | Q(next_check_at__lte=timezone.now() + timedelta(seconds=20))))

    return unless_running(CYCLE_LOCK, lambda: check_cameras(cameras=due()))


def check_one(*, camera_id: int) -> dict[str, int]:
    """The queued "check now" (on the task cluster)."""
    return check_cameras(cameras=list(rows_for_system(Camera).filter(pk=camera_id)))
