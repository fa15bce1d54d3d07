"""Writes to cameras (operators) and their RTSP checks: one now, or every camera that is due."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.cycles import queue_now, unless_running
from monitoring.models import Camera
from monitoring.rtsp import RtspResult, check, rtsp_target
from portal.access import Actor, Role, ensure_visible, require_role, rows_for_system
from portal.events.publish import publish
from portal.targets import parse_host
from portal.tenancy.models import Site
from portal.writes import clear_retargeted_secrets, delete_row, save_changes, save_new

CAMERA_FIELDS = ("site", "name", "host", "rtsp_url", "username", "password", "location", "check_interval_minutes")
CHECK_CONCURRENCY = 50
CYCLE_LOCK = "monitoring:camera-cycle"


@transaction.atomic
def create_camera(*, actor: Actor, site: Site, name: str, host: str, rtsp_url: str, **fields: Any) -> Camera:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=site.company_id)
    return save_new(actor=actor, instance=Camera(company_id=site.company_id, site=site, name=name, host=host,
                                                 rtsp_url=rtsp_url, **fields))


@transaction.atomic
def update_camera(*, actor: Actor, camera: Camera, **changes: Any) -> Camera:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=camera.company_id)
    site = changes.get("site")
    if site is not None:
        ensure_visible(actor=actor, company_id=site.company_id)
        changes["company"] = site.company
    # An empty password keeps the stored one, unless the camera moves to another host or URL: then it is
    # cleared (the check would send it there), and the form says so.
    clear_retargeted_secrets(instance=camera, changes=changes,
                             targets={"host": parse_host, "rtsp_url": lambda url: rtsp_target(url).url},
                             secrets=("password",))
    return save_changes(actor=actor, instance=camera, changes=changes, editable=(*CAMERA_FIELDS, "company"))


@transaction.atomic
def delete_camera(*, actor: Actor, camera: Camera) -> None:
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=camera.company_id)
    delete_row(actor=actor, instance=camera)


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


def check_now(*, actor: Actor, camera: Camera) -> Camera:
    """Queue a check of one camera at once (operators), on the task cluster like ``services.poll_now``."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=camera.company_id)
    queue_now(what="camera-check", object_id=camera.pk, task="monitoring.tasks.check_camera_task",
              created=camera.created_at)
    return camera


def check_one(*, camera_id: int) -> dict[str, int]:
    """The queued "check now" (on the task cluster)."""
    return check_cameras(cameras=list(rows_for_system(Camera).filter(pk=camera_id)))
