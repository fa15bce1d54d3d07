"""The real agent process against a real daphne: enroll, online, heartbeats, inventory, offline,
back online, revoked."""

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token, revoke_agent_tokens
from portal.inventory.models import Device, DeviceInventory, MetricSample
from tests.graphql_client import global_id
from tests.live import REPO, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _agent(config: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fleetwatch_agent", "--config", str(config), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=60, **kwargs)


def _start_agent(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fleetwatch_agent", "--config", str(config), "run"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def agent_config(tmp_path) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\nbackoff_initial = 0.5\nbackoff_max = 2.0\n'
                      "collect_updates = false\n")
    return config


def _device_status(pk: int) -> str:
    connection.close()  # see the daphne process's commits, not a stale snapshot
    return Device.objects.get(pk=pk).status


def test_agent_lifecycle(live_daphne, tenant_a, agent_config, tmp_path, gql_as, operator_a):
    issued = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="e2e", max_uses=5)
    enrolled = _agent(agent_config, "enroll", "--server", live_daphne.url, "--token", issued.plaintext)
    assert enrolled.returncode == 0, enrolled.stderr
    state = json.loads((tmp_path / "state" / "agent.json").read_text())
    device_id = state["device_id"]
    device = Device.objects.get(pk=device_id)
    assert device.company_id == tenant_a.company.pk and device.site_id == tenant_a.site.pk

    # The token at rest: 0600, encrypted, and `status` can read it.
    for name in ("token.enc", "token.key", "agent.json"):
        assert stat.S_IMODE((tmp_path / "state" / name).stat().st_mode) == 0o600
    status = _agent(agent_config, "status")
    assert status.returncode == 0 and "Token decrypts: yes" in status.stdout
    assert f"Device id: {device_id}" in status.stdout and issued.plaintext not in status.stdout

    agent = _start_agent(agent_config)
    try:
        wait_for(lambda: _device_status(device_id) == "online", what="device online")
        wait_for(lambda: DeviceInventory.objects.filter(device_id=device_id).exists(), what="inventory stored")
        wait_for(lambda: MetricSample.objects.filter(device_id=device_id).count() >= 2, what="heartbeats written")

        gql = gql_as(operator_a)
        result = gql("""query ($id: ID!) { node(id: $id) { ... on Device { status agentVersion cpuPercent
            inventory { kernel cpuCores memoryTotal disks interfaces }
            software(first: 5) { totalCount } metricSamples(first: 3) { edges { node { cpuPercent } } } } } }""",
                     {"id": global_id("Device", device_id)})
        node = result["data"]["node"]
        assert node["status"] == "online" and node["agentVersion"] == "0.1.0"
        assert node["inventory"]["cpuCores"] == os.cpu_count()
        assert node["inventory"]["interfaces"] and node["inventory"]["disks"]
        assert node["metricSamples"]["edges"]

        # Killed outright (no goodbye): the server sees the socket close and marks it offline at once.
        agent.kill()
        agent.wait(timeout=10)
        wait_for(lambda: _device_status(device_id) == "offline", timeout=10, what="device offline after kill")

        agent = _start_agent(agent_config)
        wait_for(lambda: _device_status(device_id) == "online", what="device online after restart")

        # Revoked: the socket closes within seconds, the agent stops and says why, reconnects are refused.
        revoke_agent_tokens(actor=system_actor(), device=Device.objects.get(pk=device_id))
        output, _ = agent.communicate(timeout=20)
        assert agent.returncode == 3, output
        assert "Enroll this agent again" in output
        wait_for(lambda: _device_status(device_id) == "offline", timeout=10, what="device offline after revoke")
        again = _start_agent(agent_config)
        output, _ = again.communicate(timeout=30)
        assert again.returncode == 3 and "refused" in output
    finally:
        for process in (agent,):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)


def test_sigterm_stops_the_agent_cleanly(live_daphne, tenant_a, agent_config):
    issued = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="e2e")
    assert _agent(agent_config, "enroll", "--server", live_daphne.url, "--token", issued.plaintext).returncode == 0
    device_id = Device.objects.latest("pk").pk
    agent = _start_agent(agent_config)
    wait_for(lambda: _device_status(device_id) == "online", what="device online")
    agent.send_signal(signal.SIGTERM)
    output, _ = agent.communicate(timeout=15)
    assert agent.returncode == 0 and "stopped" in output
    wait_for(lambda: _device_status(device_id) == "offline", timeout=10, what="device offline after stop")


def test_enroll_refusals_are_clear(live_daphne, tenant_a, agent_config):
    refused = _agent(agent_config, "enroll", "--server", live_daphne.url, "--token", "fwe_" + "0" * 12 + "_" + "A" * 43)
    assert refused.returncode == 3 and "not valid" in refused.stderr
    insecure = _agent(agent_config, "enroll", "--server", "http://rmm.example.com", "--token", "x")
    assert insecure.returncode == 1 and "https" in insecure.stderr
    not_enrolled = _agent(agent_config, "run")
    assert not_enrolled.returncode == 2 and "not enrolled" in not_enrolled.stderr
