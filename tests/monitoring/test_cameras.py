"""Cameras against a stand-in RTSP server with Digest authentication: up, auth failed, down; the
password encrypted at rest; the pages and check now."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from monitoring import camera_checks, services
from monitoring.models import Camera
from monitoring.rtsp import authorization
from tests.conftest import logged_in
from tests.monitoring.conftest import free_udp_port
from tests.monitoring.rtsp_standin import StandInCamera
from tests.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def stand_in():
    camera = StandInCamera()
    camera.start()
    yield camera
    camera.stop()


def _camera(tenant, actor, port: int, password: str) -> Camera:
    return services.create_camera(actor=actor, site=tenant.site, name="dock cam", host="127.0.0.1",
                                 rtsp_url=f"rtsp://127.0.0.1:{port}/stream1", username="viewer", password=password)


def test_up_auth_failed_and_down(stand_in, tenant_a, actor_of, operator_a):
    actor = actor_of(operator_a)
    good = _camera(tenant_a, actor, stand_in.port, "camera-pass-1")
    wrong = _camera(tenant_a, actor, stand_in.port, "guessed")
    dead = _camera(tenant_a, actor, free_udp_port(), "camera-pass-1")
    assert camera_checks.check_cameras(cameras=[good, wrong, dead]) == {"up": 1, "auth_failed": 1, "down": 1}
    good.refresh_from_db(), wrong.refresh_from_db(), dead.refresh_from_db()
    assert good.status == "up" and good.response_ms > 0 and good.next_check_at > good.last_checked_at
    assert wrong.status == "auth_failed" and "credentials" in wrong.status_detail
    assert dead.status == "down" and "Cannot connect" in dead.status_detail
    # Two cameras reached it: each sent OPTIONS, DESCRIBE, then DESCRIBE with Digest credentials.
    assert sorted(stand_in.requests) == ["DESCRIBE"] * 4 + ["OPTIONS"] * 2


def test_password_is_encrypted_and_urls_carry_no_credentials(stand_in, tenant_a, actor_of, operator_a):
    from django.core.exceptions import ValidationError

    camera = _camera(tenant_a, actor_of(operator_a), stand_in.port, "camera-pass-1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM monitoring_camera WHERE id = %s", [camera.pk])
        assert "camera-pass-1" not in cursor.fetchone()[0]
    with pytest.raises(ValidationError):
        services.create_camera(actor=actor_of(operator_a), site=tenant_a.site, name="x", host="h",
                              rtsp_url="rtsp://admin:secret@192.0.2.1/stream")


def test_digest_and_basic_answers():
    digest = authorization(header='Digest realm="r", nonce="n", qop="auth"', method="DESCRIBE", uri="rtsp://h/s",
                           username="u", password="p")
    assert digest.startswith("Digest ") and "qop=auth" in digest and 'cnonce="' in digest
    assert authorization(header='Basic realm="cam"', method="DESCRIBE", uri="rtsp://h/s", username="u",
                         password="p") == "Basic dTpw"


def test_camera_pages_and_check_now(stand_in, tenant_a, operator_a, viewer_a):
    client = logged_in(operator_a)
    created = client.post(reverse("resource-create", args=["cameras"]), {
        "site": tenant_a.site.pk, "name": "lobby", "host": "127.0.0.1",
        "rtsp_url": f"rtsp://127.0.0.1:{stand_in.port}/stream1", "username": "viewer", "password": "camera-pass-1",
        "check_interval_minutes": 10})
    assert created.status_code == 302, created.content.decode()[:1500]
    camera = Camera.objects.get()
    assert logged_in(viewer_a).post(reverse("camera-check", args=[camera.pk])).status_code == 403
    client.post(reverse("camera-check", args=[camera.pk]))
    task = "monitoring.tasks.check_camera_task"
    assert (task, (camera.pk,)) in run_queued_tasks(func=task)
    page = client.get(reverse("resource-detail", args=["cameras", camera.pk])).content.decode()
    assert "Up" in page and "camera-pass-1" not in page
