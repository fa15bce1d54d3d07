"""The agent for new endpoints: ``manage.py build_agent`` builds and signs a wheel, the server hands out the
release, the wheel and the install scripts, and the Linux one-liner, run for real against a live daphne,
installs the agent into its own virtualenv, enrolls it, and the installed agent comes online."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.urls import reverse

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token
from portal.inventory.models import Device
from tests.conftest import logged_in
from tests.live import REPO, LiveServer, process_env, wait_for


@pytest.fixture
def release_dir(tmp_path) -> Path:
    data_dir = tmp_path / "server-data"
    built = subprocess.run([sys.executable, "manage.py", "build_agent"], cwd=REPO, capture_output=True, text=True,
                           env=process_env(FLEETWATCH_DATA_DIR=str(data_dir)), timeout=240)
    assert built.returncode == 0 and "Agent 0.1.0 ready" in built.stdout, built.stderr
    return data_dir


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.django_db(transaction=True)
def test_the_linux_one_liner_installs_enrolls_and_the_agent_comes_online(release_dir, tenant_a, tmp_path):
    server = LiveServer(FLEETWATCH_DATA_DIR=str(release_dir), FLEETWATCH_HEARTBEAT_SECONDS="1")
    server.env["FLEETWATCH_BASE_URL"] = server.url
    server.start()
    agent = None
    try:
        release = json.loads(_get(f"{server.url}/agent/release.json")[1])
        status, wheel = _get(f"{server.url}/agent/download/{release['wheel']}")
        assert status == 200 and hashlib.sha256(wheel).hexdigest() == release["sha256"]
        signing_key = serialization.load_pem_private_key((release_dir / "action-signing.key").read_bytes(), None)
        signing_key.public_key().verify(base64.b64decode(release["signature"]), wheel)  # raises when forged
        assert _get(f"{server.url}/agent/download/../secret_key")[0] == 404
        assert _get(f"{server.url}/agent/download/fleetwatch_agent-9.9.9-py3-none-any.whl")[0] == 404

        status, script = _get(f"{server.url}/agent/install.sh")
        assert status == 200 and f'SERVER="{server.url}"'.encode() in script
        installer = tmp_path / "install.sh"
        installer.write_bytes(script)
        assert subprocess.run(["sh", "-n", str(installer)]).returncode == 0
        refused = subprocess.run(["sh", str(installer), "--token", "not-a-token"], capture_output=True, text=True)
        assert refused.returncode == 2 and "not an enrollment token" in refused.stderr

        token = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="one-liner",
                                        max_uses=1).plaintext
        config = tmp_path / "agent.toml"
        config.write_text(f'state_dir = "{tmp_path / "agent-state"}"\nbackoff_initial = 0.3\nbackoff_max = 1.0\n'
                          "collect_updates = false\ncollect_software = false\n")
        home = tmp_path / "fleetwatch-agent"
        installed = subprocess.run(["sh", str(installer), "--token", token, "--config", str(config), "--no-service"],
                                   capture_output=True, text=True, timeout=600,
                                   env={**process_env(), "FLEETWATCH_AGENT_HOME": str(home)})
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert "installed in" in installed.stdout
        device = Device.objects.get(site=tenant_a.site, pk__gt=tenant_a.device.pk)
        agent = subprocess.Popen([str(home / "bin" / "fleetwatch-agent"), "--config", str(config), "run"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: Device.objects.get(pk=device.pk).status == "online", timeout=60,
                 what="the installed agent online")
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=15)
        server.stop()
        print(server.log())


def test_the_enrollment_page_offers_the_one_liners_with_the_token(release_dir, admin_user, tenant_a, settings):
    settings.DATA_DIR = release_dir
    settings.FLEETWATCH_BASE_URL = "https://rmm.example.com"
    page = logged_in(admin_user).post(reverse("enrollment-tokens"), {
        "site": tenant_a.site.pk, "name": "rollout", "expires_in_days": 7}).content.decode()
    assert "curl -fsSL https://rmm.example.com/agent/install.sh | sudo sh -s -- --token fwe_" in page
    assert "irm https://rmm.example.com/agent/install.ps1))) -Token fwe_" in page


def test_scripts_are_off_without_a_release_or_with_an_unsafe_base_url(client, settings, tmp_path, release_dir):
    settings.DATA_DIR = tmp_path / "empty"
    assert client.get("/agent/install.sh").status_code == 503
    assert client.get("/agent/release.json").status_code == 503
    settings.DATA_DIR = release_dir
    settings.FLEETWATCH_BASE_URL = 'https://rmm.example.com/"; rm -rf / #'
    answer = client.get("/agent/install.sh")
    assert answer.status_code == 503 and b"rm -rf" not in answer.content
    settings.FLEETWATCH_BASE_URL = "https://rmm.example.com"
    assert b'$Server = "https://rmm.example.com"' in client.get("/agent/install.ps1").content
