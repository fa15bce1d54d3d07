"""Write-only secrets cannot be re-aimed: changing where a stored password, community or API secret is sent
(a camera's host or URL, an SNMP device's host or port, a connector's base URL) clears it unless it is
entered again. Before, an operator could point a camera at a listener of their own and read the password."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from connectors.services import create_connector, update_connector
from monitoring import services
from monitoring.models import Camera, NetworkDevice
from portal.access import system_actor
from tests.conftest import logged_in
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def camera(tenant_a):
    return services.create_camera(actor=system_actor(), site=tenant_a.site, name="dock", host="192.0.2.10",
                                 rtsp_url="rtsp://192.0.2.10/stream1", username="viewer", password="camera-pass-1")


@pytest.fixture
def switch(tenant_a):
    return services.create_network_device(actor=system_actor(), site=tenant_a.site, name="core", host="192.0.2.20",
                                           community="private-community")


def test_moving_a_camera_clears_its_password(camera, operator_a, actor_of):
    actor = actor_of(operator_a)
    services.update_camera(actor=actor, camera=camera, name="dock north", password="")
    assert Camera.objects.get().password == "camera-pass-1"  # no move: empty keeps it
    services.update_camera(actor=actor, camera=Camera.objects.get(), host="198.51.100.66",
                          rtsp_url="rtsp://198.51.100.66:8554/steal", password="")
    assert Camera.objects.get().password == ""
    moved = services.update_camera(actor=actor, camera=Camera.objects.get(), host="192.0.2.10",
                                  rtsp_url="rtsp://192.0.2.10/stream1", password="camera-pass-2")
    assert moved.password == "camera-pass-2"  # entered again with the move: kept


def test_the_same_target_written_differently_is_not_a_move(camera, operator_a, actor_of):
    services.update_camera(actor=actor_of(operator_a), camera=camera, rtsp_url="RTSP://192.0.2.10/stream1")
    assert Camera.objects.get().password == "camera-pass-1"


def test_the_camera_form_says_so_and_clears_it(camera, operator_a):
    client = logged_in(operator_a)
    form = client.get(reverse("resource-edit", args=["cameras", camera.pk])).content.decode()
    assert "enter it again: it is cleared otherwise" in form
    response = client.post(reverse("resource-edit", args=["cameras", camera.pk]), {
        "site": camera.site_id, "name": "dock", "host": "198.51.100.66", "rtsp_url": "rtsp://198.51.100.66/steal",
        "username": "viewer", "password": "", "check_interval_minutes": 10})
    assert response.status_code == 302
    assert Camera.objects.get().password == ""


def test_moving_an_snmp_device_needs_the_community_again(switch, operator_a, actor_of):
    actor = actor_of(operator_a)
    with pytest.raises(ValidationError) as refused:
        services.update_network_device(actor=actor, networkdevice=switch, host="198.51.100.66", community="")
    assert "stored value was cleared: enter it again" in refused.value.message_dict["community"][0]
    with pytest.raises(ValidationError):
        services.update_network_device(actor=actor, networkdevice=NetworkDevice.objects.get(), port=1161)
    assert NetworkDevice.objects.get().community == "private-community"
    services.update_network_device(actor=actor, networkdevice=NetworkDevice.objects.get(), name="core-1")
    assert NetworkDevice.objects.get().community == "private-community"


def test_an_snmpv3_device_loses_its_keys_when_moved(tenant_a, operator_a, actor_of):
    device = services.create_network_device(actor=system_actor(), site=tenant_a.site, name="fw", host="192.0.2.30",
                                            snmp_version="3", v3_user="monitor", auth_protocol="sha",
                                            auth_key="auth-key-123", priv_protocol="aes", priv_key="priv-key-456")
    with pytest.raises(ValidationError) as refused:
        services.update_network_device(actor=actor_of(operator_a), networkdevice=device, host="198.51.100.66")
    assert set(refused.value.message_dict) >= {"auth_key"}
    assert NetworkDevice.objects.get().auth_key == "auth-key-123"


def test_the_network_form_passes_no_stored_secret_back(switch, operator_a):
    response = logged_in(operator_a).post(reverse("resource-edit", args=["network", switch.pk]), {
        "site": switch.site_id, "name": "core", "host": "198.51.100.66", "port": 161, "device_type": "switch",
        "snmp_version": "2c", "community": "", "poll_interval_minutes": 5})
    assert response.status_code == 422 and "enter it again" in response.content.decode()
    assert NetworkDevice.objects.get().host == "192.0.2.20"


def test_graphql_moves_clear_too(gql_as, camera, operator_a):
    answer = gql_as(operator_a)("""mutation ($id: ID!) { updateCamera(input: {id: $id, host: "198.51.100.66",
        rtspUrl: "rtsp://198.51.100.66/steal"}) { node { host } errors { message } } }""",
                                {"id": global_id("Camera", camera.pk)})
    assert answer["data"]["updateCamera"]["node"]["host"] == "198.51.100.66"
    assert Camera.objects.get().password == ""


def test_a_connector_pointed_elsewhere_needs_its_secret_again(db):
    admin = system_actor()
    connector = create_connector(actor=admin, name="Pulseway", base_url="https://api.pulseway.com/v3/",
                                 token_id="id", token_secret="top-secret")
    with pytest.raises(ValidationError, match="stored value was cleared"):
        update_connector(actor=admin, connector=connector, base_url="https://collector.example.net/v3/",
                         token_secret="")
    connector.refresh_from_db()
    assert connector.token_secret == "top-secret" and connector.base_url == "https://api.pulseway.com/v3/"
    update_connector(actor=admin, connector=connector, name="Pulseway EU")
    connector.refresh_from_db()
    assert connector.token_secret == "top-secret"
