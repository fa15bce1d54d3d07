"""Network target fields (camera URL and host, SNMP host, connector base URL, Slack webhook) are parsed
strictly, and requests are built from the parsed parts: a typed value can never smuggle a second line
into a connection, nor point the connection somewhere the record does not show."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from connectors.http import ConnectorError, checked_base_url
from connectors.models import Connector
from connectors.services import create_connector
from monitoring import camera_checks, services
from monitoring.models import Camera
from monitoring.rtsp import check
from portal.access import system_actor
from portal.targets import parse_host, parse_port, parse_url

RTSP = {"rtsp": 554}


class RawListener:
    """A TCP listener that records every byte sent to it (what a Redis on that port would read)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = b""
        self.server.settimeout(5)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            connection, _ = self.server.accept()
        except OSError:
            return
        connection.settimeout(2)
        try:
            while chunk := connection.recv(4096):
                self.received += chunk
                if b"\r\n\r\n" in self.received:
                    connection.sendall(b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n")
        except OSError:
            pass
        finally:
            connection.close()

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("value", [
    "rtsp://10.0.0.5/stream\r\nSET pwned 1", "rtsp://10.0.0.5/st ream", "rtsp://10.0.0.5/stream\tx",
    "rtsp://10.0.0.5/stréam", "rtsp://user:pass@10.0.0.5/s", "rtsp://10.0.0.5:0/s", "rtsp://10.0.0.5:65536/s",
    "rtsp://10.0.0.5:+554/s", "http://10.0.0.5/s", "rtsp:///s", "rtsp://10.0.0.5/s#frag", "rtsp://[::1/s",
    "rtsp://2130706433/s", "rtsp://0x7f.1/s", "rtsp://017.0.0.1/s", "rtsp://exa_mple-.com/s", "rtsp://a..b/s",
    "rtsp://10.0.0.5/%zz", "rtsp://10.0.0.5/\x00", "rtsp://fe80::1%eth0/s", "",
])
def test_malformed_urls_are_refused(value):
    with pytest.raises(ValidationError):
        parse_url(value, schemes=RTSP)


def test_urls_are_rebuilt_from_their_parts():
    parsed = parse_url("RTSP://Cam-1.Example.COM:8554/live/ch1?profile=2", schemes=RTSP)
    assert (parsed.host, parsed.port, parsed.path) == ("cam-1.example.com", 8554, "/live/ch1?profile=2")
    assert parsed.url == "rtsp://cam-1.example.com:8554/live/ch1?profile=2"
    assert parse_url("rtsp://[2001:db8::1]/s", schemes=RTSP).netloc == "[2001:db8::1]"
    assert parse_url("rtsp://192.0.2.7", schemes=RTSP).url == "rtsp://192.0.2.7/"
    assert parse_host("2001:DB8::0:1") == "2001:db8::1"
    assert parse_port("161") == 161
    with pytest.raises(ValidationError):
        parse_port(True)


def test_plain_http_only_for_a_server_on_this_machine():
    parse_url("http://127.0.0.1:9000/api/v3/", schemes={"https": 443, "http": 80}, plain_http_only_on_loopback=True)
    with pytest.raises(ValidationError, match="https"):
        parse_url("http://api.pulseway.com/v3/", schemes={"https": 443, "http": 80}, plain_http_only_on_loopback=True)


def test_a_camera_url_with_a_line_break_is_refused(tenant_a):
    """Before: the URL was accepted as typed, and the check wrote it into the request line."""
    actor = system_actor()
    with pytest.raises(ValidationError) as refused:
        services.create_camera(actor=actor, site=tenant_a.site, name="dock", host="127.0.0.1",
                              rtsp_url="rtsp://127.0.0.1:6379/x RTSP/1.0\r\nSET pwned 1\r\n")
    assert "rtsp_url" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        services.create_camera(actor=actor, site=tenant_a.site, name="dock", host="cam\r\n1",
                              rtsp_url="rtsp://192.0.2.4/s")
    assert "host" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        services.create_camera(actor=actor, site=tenant_a.site, name="dock", host="192.0.2.4",
                              rtsp_url="rtsp://192.0.2.4/s", username='view"er\r\nX: 1')
    assert "username" in refused.value.message_dict


def test_the_url_must_point_at_the_camera_host(tenant_a):
    """Before: the list showed one host while the check connected to whatever the URL named."""
    with pytest.raises(ValidationError, match="make them the same"):
        services.create_camera(actor=system_actor(), site=tenant_a.site, name="dock", host="192.0.2.4",
                              rtsp_url="rtsp://127.0.0.1:6379/s")
    camera = services.create_camera(actor=system_actor(), site=tenant_a.site, name="dock", host="CAM.example.com",
                                   rtsp_url="rtsp://cam.example.com:8554/s")
    assert (camera.host, camera.rtsp_url) == ("cam.example.com", "rtsp://cam.example.com:8554/s")


def test_a_stored_url_with_injected_lines_sends_nothing(tenant_a):
    """A row written before validation was strict (or straight into the database): the check refuses it
    without connecting, where before it wrote the extra lines to the listener."""
    listener = RawListener()
    try:
        camera = services.create_camera(actor=system_actor(), site=tenant_a.site, name="dock", host="127.0.0.1",
                                       rtsp_url=f"rtsp://127.0.0.1:{listener.port}/s")
        Camera.objects.filter(pk=camera.pk).update(
            rtsp_url=f"rtsp://127.0.0.1:{listener.port}/s RTSP/1.0\r\nSET pwned 1\r\nX: y")
        camera.refresh_from_db()
        camera_checks.check_cameras(cameras=[camera])
        camera.refresh_from_db()
        assert camera.status == "down" and camera.status_detail.startswith("Not checked")
        assert b"SET pwned" not in listener.received
    finally:
        listener.close()


def test_request_lines_are_built_from_the_parsed_url():
    listener = RawListener()
    try:
        result = asyncio.run(check(url=f"rtsp://LOCALHOST:{listener.port}/a/b?c=1", timeout=3))
        assert result.status == "down"
        first_line = listener.received.split(b"\r\n")[0]
        assert first_line == f"OPTIONS rtsp://localhost:{listener.port}/a/b?c=1 RTSP/1.0".encode()
    finally:
        listener.close()


def test_snmp_hosts_are_checked(tenant_a):
    with pytest.raises(ValidationError) as refused:
        services.create_network_device(actor=system_actor(), site=tenant_a.site, name="core", host="10.0.0.1\n",
                                       community="public")
    assert "host" in refused.value.message_dict
    device = services.create_network_device(actor=system_actor(), site=tenant_a.site, name="core",
                                            host="Switch-1.Corp.Example", community="public")
    assert device.host == "switch-1.corp.example"


def test_connector_base_urls_are_checked(db):
    actor = system_actor()
    for bad in ("https://api.pulseway.com/v3/\r\nX-Injected: 1", "http://api.pulseway.com/v3/",
                "https://user:pw@api.pulseway.com/v3/", "ftp://api.pulseway.com/"):
        with pytest.raises(ValidationError):
            create_connector(actor=actor, name=f"p {bad[:12]}", base_url=bad, token_secret="s", token_id="i")
    connector = create_connector(actor=actor, name="pulseway", base_url="https://API.pulseway.com/v3",
                                 token_secret="s", token_id="i")
    assert connector.base_url == "https://api.pulseway.com/v3"
    Connector.objects.filter(pk=connector.pk).update(base_url="https://api.pulseway.com/v3/\r\nX: 1")
    with pytest.raises(ConnectorError, match="refused"):
        checked_base_url(Connector.objects.get(pk=connector.pk).base_url)


def test_a_bad_slack_webhook_fails_the_system_check_and_is_never_called(settings, caplog):
    from monitoring.notifications import slack_webhook

    settings.FLEETWATCH_SLACK_WEBHOOK_URL = "https://hooks.slack.com/services/T0/B0/x\r\nHost: evil"
    with pytest.raises(SystemCheckError, match="FLEETWATCH_SLACK_WEBHOOK_URL"):
        call_command("check")
    assert slack_webhook() == ""
    settings.FLEETWATCH_SLACK_WEBHOOK_URL = "http://hooks.slack.com/services/T0/B0/x"
    assert slack_webhook() == ""
    settings.FLEETWATCH_SLACK_WEBHOOK_URL = "https://hooks.slack.com/services/T0/B0/x"
    assert slack_webhook() == "https://hooks.slack.com/services/T0/B0/x"
