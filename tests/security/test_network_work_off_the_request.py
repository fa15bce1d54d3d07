""""Poll now" and "Check now" queue their network work for the task cluster: the request answers at
once, whatever the target does, and the result reaches the open page like a scheduled poll's. Before,
they ran on the one thread that also serves every socket's database work, so one unreachable target
stalled the whole server for seconds."""

from __future__ import annotations

import socket
import threading

import pytest
from django.urls import reverse

from monitoring import services
from monitoring.models import Camera, NetworkDevice
from portal.access import system_actor
from tests.conftest import logged_in
from tests.graphql_client import global_id
from tests.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db


class SilentListener:
    """Accepts connections and never answers (a camera that hangs); counts who connected."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
        self.server.close()


def test_check_now_answers_without_touching_the_camera(tenant_a, operator_a):
    listener = SilentListener()
    try:
        camera = services.create_camera(actor=system_actor(), site=tenant_a.site, name="hung", host="127.0.0.1",
                                       rtsp_url=f"rtsp://127.0.0.1:{listener.port}/s")
        response = logged_in(operator_a).post(reverse("camera-check", args=[camera.pk]), follow=True)
        assert response.status_code == 200 and "Check queued" in response.content.decode()
        assert listener.connections == []  # nothing was sent while the request was being answered
        assert Camera.objects.get().last_checked_at is None
        ran = run_queued_tasks(func="monitoring.tasks.check_camera_task")
        assert ("monitoring.tasks.check_camera_task", (camera.pk,)) in ran and len(listener.connections) == 1
        assert Camera.objects.get().status == "down"  # the worker waited out the silence, not the server
    finally:
        listener.close()


def test_poll_now_is_queued_from_pages_and_graphql(tenant_a, operator_a, gql_as):
    device = services.create_network_device(actor=system_actor(), site=tenant_a.site, name="far", host="192.0.2.1",
                                            community="public")
    answer = gql_as(operator_a)("""mutation ($id: ID!) { pollNetworkDevice(input: {id: $id}) {
        node { status lastPolledAt } errors { message } } }""", {"id": global_id("NetworkDevice", device.pk)})
    assert answer["data"]["pollNetworkDevice"] == {"node": {"status": "unknown", "lastPolledAt": None},
                                                   "errors": []}
    assert NetworkDevice.objects.get().last_polled_at is None


def test_pressing_it_over_and_over_queues_a_few_only(tenant_a, operator_a):
    camera = services.create_camera(actor=system_actor(), site=tenant_a.site, name="dock", host="192.0.2.44",
                                   rtsp_url="rtsp://192.0.2.44/s")
    client = logged_in(operator_a)
    pages = [client.post(reverse("camera-check", args=[camera.pk]), follow=True).content.decode() for _ in range(8)]
    assert sum("Check queued" in page for page in pages) == 6
    assert "queued several times in the last minute" in pages[-1]
