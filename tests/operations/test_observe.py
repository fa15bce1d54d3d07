"""Observing a running server: /metrics (token only) with each part's figures from a real daphne and agent,
JSON log lines carrying the request id and the user, and every process's last beat on the health answer and
the System page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.urls import reverse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from portal.inventory.models import Device
from portal.operations.models import ServerProcess
from tests.actions.agent_harness import AgentHandle
from tests.conftest import logged_in
from tests.live import REPO, LiveServer, process_env, wait_for

TOKEN = "metrics-token-for-tests-0123456789"


def _scrape(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"{url}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", re.M)
    total, found = 0.0, False
    for match in pattern.finditer(text):
        if all(part in (match.group(1) or "") for part in wanted.split(",") if part):
            total, found = total + float(match.group(2)), True
    assert found, f"{name} {labels} not in the metrics"
    return total


@pytest.fixture
def metered_daphne(transactional_db):
    server = LiveServer(FLEETWATCH_HEARTBEAT_SECONDS="1", FLEETWATCH_METRICS_TOKEN=TOKEN)
    server.start()
    yield server
    server.stop()
    print(server.log())


def test_metrics_need_the_token_and_show_agents_heartbeats_refusals_and_the_fleet(metered_daphne, tenant_a,
                                                                                   tmp_path):
    assert _scrape(metered_daphne.url, None)[0] == 401
    assert _scrape(metered_daphne.url, "wrong-token")[0] == 401
    agent = AgentHandle(directory=tmp_path, server_url=metered_daphne.url, site=tenant_a.site)
    agent.start()
    try:
        wait_for(lambda: _value(_scrape(metered_daphne.url, TOKEN)[1], "fleetwatch_heartbeats_total") >= 3,
                 timeout=30, what="three heartbeats counted")
        # A handshake with a made-up token is counted by reason.
        with pytest.raises(InvalidStatus):
            connect(f"{metered_daphne.ws_url}/ws/agent/", additional_headers={"Authorization": "Bearer fwa_no_no"},
                    open_timeout=10)
        status, text = _scrape(metered_daphne.url, TOKEN)
        assert status == 200
        assert _value(text, "fleetwatch_agents_connected") == 1
        assert _value(text, "fleetwatch_heartbeat_ack_seconds_count") >= 3
        assert _value(text, "fleetwatch_agent_handshakes_refused_total", reason="token") >= 1
        assert _value(text, "fleetwatch_devices", status="online") == Device.objects.filter(status="online").count()
        assert _value(text, "fleetwatch_actions_open", state="queued") == 0
        assert _value(text, "fleetwatch_task_queue_depth") >= 0
        assert _value(text, "fleetwatch_http_request_seconds_count", route="api/health/") >= 1
        assert 'route="metrics"' in text and "/ws/agent" not in text  # routes are patterns, never raw paths
        row = wait_for(lambda: ServerProcess.objects.filter(agents_connected=1).first(), timeout=20,
                       what="the web process's beat with its agent")
        assert row.kind == "web"
    finally:
        agent.stop()
    assert _value(_scrape(metered_daphne.url, TOKEN)[1], "fleetwatch_agents_connected") == 0


def test_metrics_are_off_without_a_token(client, settings):
    settings.FLEETWATCH_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_json_log_lines_carry_the_request_id_and_the_user(admin_user):
    script = f"""
import io, json, logging
from django.test import Client
from portal.accounts.models import User
stream = io.StringIO()
handler = logging.getLogger().handlers[0]
handler.setStream(stream)
client = Client(HTTP_HOST="localhost")
client.force_login(User.objects.get(pk={admin_user.pk}))
answer = client.get("/devices/987654/", HTTP_X_REQUEST_ID="trace-0123456789")
assert answer.status_code == 404 and answer["X-Request-ID"] == "trace-0123456789"
client.get("/devices/987655/", HTTP_X_REQUEST_ID="bad id with spaces")
lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{{")]
print(json.dumps(lines))
"""

    done = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + script], cwd=REPO,
                          env=process_env(FLEETWATCH_LOG_FORMAT="json"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = json.loads(done.stdout.strip().splitlines()[-1])
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found[0]["request_id"] == "trace-0123456789" and not_found[0]["actor"] == "root-admin"
    assert not_found[0]["level"] == "WARNING" and "/devices/987654/" in not_found[0]["message"]
    assert re.fullmatch(r"[0-9a-f]{32}", not_found[1]["request_id"])  # an unusable id is replaced, not echoed


def test_health_and_the_system_page_list_processes_with_their_beat(admin_user, admin_a, live_daphne):
    wait_for(lambda: ServerProcess.objects.exists(), timeout=20, what="the live server's first beat")
    with urllib.request.urlopen(f"{live_daphne.url}/api/health/", timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["processes"]["web"]["beating"] >= 1 and "host" not in json.dumps(body["processes"])
    page = logged_in(admin_user).get(reverse("system-status"))
    process = ServerProcess.objects.first()
    assert page.status_code == 200 and str(process.pid) in page.content.decode() and "beating" in page.content.decode()
    assert logged_in(admin_a).get(reverse("system-status")).status_code == 404  # scoped admins see their companies
