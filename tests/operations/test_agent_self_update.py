"""Agent self-update with the real agent under a supervisor that restarts it like systemd's Restart=always:
the server offers a newer build to its ring, the agent checks the signature against its pinned key, installs
it beside itself, restarts into it and confirms; a build that cannot start is rolled back after its trial and
never tried again on that device. Rings are stable per device; a forged or changed download is refused."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fleetwatch_agent import self_update

from portal.access import actor_for_user, system_actor
from portal.inventory.enrollment import create_enrollment_token
from portal.inventory.models import Device
from portal.operations import rollouts
from tests.live import REPO, LiveServer, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _agent_source(tmp_path: Path, version: str, *, broken: bool = False) -> Path:
    source = tmp_path / f"agent-{version}"
    shutil.copytree(REPO / "agent", source, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    for name in ("pyproject.toml", "fleetwatch_agent/__init__.py"):
        path = source / name
        path.write_text(path.read_text().replace('"0.1.0"', f'"{version}"'))
    if broken:  # a build that dies as it starts, before any of its own code could roll it back
        (source / "fleetwatch_agent" / "__main__.py").write_text("raise SystemExit(3)\n")
    return source


def _build(data_dir: Path, source: Path) -> None:
    built = subprocess.run([sys.executable, "manage.py", "build_agent", "--source", str(source)], cwd=REPO,
                           env=process_env(FLEETWATCH_DATA_DIR=str(data_dir)), capture_output=True, text=True,
                           timeout=240)
    assert built.returncode == 0, built.stderr


def _version(pk: int) -> str:
    from django.db import connection

    connection.close()
    return Device.objects.get(pk=pk).agent_version


def test_an_agent_updates_itself_and_rolls_back_a_build_that_cannot_start(tmp_path, tenant_a, admin_user,
                                                                          settings):
    data_dir = tmp_path / "server"
    settings.DATA_DIR = data_dir  # where this process reads the release a rollout offers
    _build(data_dir, _agent_source(tmp_path, "0.1.1"))
    admin = actor_for_user(admin_user)
    rollouts.start_rollout(actor=admin, percent=100)
    server = LiveServer(FLEETWATCH_DATA_DIR=str(data_dir), FLEETWATCH_HEARTBEAT_SECONDS="1")
    server.start()
    state = tmp_path / "agent-state"
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{state}"\nbackoff_initial = 0.3\nbackoff_max = 1.0\ncollect_updates = false\n'
                      "collect_software = false\nupdate_trial_seconds = 8\n")
    token = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="updates", max_uses=1).plaintext
    enrolled = subprocess.run([sys.executable, "-m", "fleetwatch_agent", "--config", str(config), "enroll",
                               "--server", server.url, "--token", token], cwd=REPO, capture_output=True, text=True)
    assert enrolled.returncode == 0, enrolled.stderr
    device = Device.objects.get(site=tenant_a.site, pk__gt=tenant_a.device.pk)
    log = tmp_path / "supervisor.log"
    # Restart=always, as the service managers do (the agent exits 75 to be started into its update).
    supervisor = subprocess.Popen(
        ["sh", "-c", f'while :; do "{sys.executable}" -m fleetwatch_agent --config "{config}" run; '
                     'echo "agent exited with $?"; sleep 0.3; done'],
        cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: _version(device.pk) == "0.1.1", timeout=120, what="the agent to run 0.1.1")
        wait_for(lambda: self_update.load(state).trial_started is None, timeout=30, what="0.1.1 confirmed")
        assert "agent exited with 75" in log.read_text()
        assert (state / "versions" / "0.1.1" / "fleetwatch_agent").is_dir()

        _build(data_dir, _agent_source(tmp_path, "0.1.2", broken=True))
        rollouts.start_rollout(actor=admin, percent=100)
        server.stop()
        server.start()  # the agent reconnects, is welcomed, and offered 0.1.2
        wait_for(lambda: "0.1.2" in self_update.load(state).bad, timeout=120, what="0.1.2 rolled back")
        wait_for(lambda: self_update.load(state).current == "0.1.1", timeout=30, what="0.1.1 current again")
        wait_for(lambda: _version(device.pk) == "0.1.1" and Device.objects.get(pk=device.pk).status == "online",
                 timeout=60, what="the agent back online on 0.1.1")
        output = log.read_text()
        assert "agent exited with 3" in output and "rolling back to 0.1.1" in (state / "agent.log").read_text()
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)
        supervisor.wait(timeout=15)
        server.stop()
        print(log.read_text(errors="replace")[-4000:])


def test_rings_are_stable_per_device_and_widen_without_reshuffling():
    at_ten = {pk for pk in range(1, 2001) if rollouts.in_percentage(device_id=pk, version="0.2.0", percent=10)}
    at_fifty = {pk for pk in range(1, 2001) if rollouts.in_percentage(device_id=pk, version="0.2.0", percent=50)}
    assert 150 < len(at_ten) < 250 and 900 < len(at_fifty) < 1100 and at_ten < at_fifty


def test_an_offer_not_signed_by_the_pinned_key_or_changed_is_refused():
    data = b"a wheel"
    server_key, other_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    pinned = base64.b64encode(server_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    def offer(signature: bytes, content: bytes = data) -> self_update.Offer:
        return self_update.Offer(version="9.9.9", wheel="fleetwatch_agent-9.9.9-py3-none-any.whl",
                                 sha256=hashlib.sha256(content).hexdigest(),
                                 signature=base64.b64encode(signature).decode())

    self_update.check(data, offer=offer(server_key.sign(data)), pinned_key=pinned)
    with pytest.raises(self_update.UpdateRefused, match="not signed"):
        self_update.check(data, offer=offer(other_key.sign(data)), pinned_key=pinned)
    with pytest.raises(self_update.UpdateRefused, match="SHA-256"):
        self_update.check(data + b"!", offer=offer(server_key.sign(data)), pinned_key=pinned)
    with pytest.raises(self_update.UpdateRefused, match="malformed"):
        self_update.offer_from({"agent_update": {"version": "1; rm -rf /", "wheel": "x", "sha256": "y",
                                                 "signature": "z"}})
    assert json.dumps(self_update.offer_from({})) == "null"
