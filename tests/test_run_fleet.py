"""`make up`'s last step: run_fleet starts daphne, a worker and a local agent, and stops them all."""

import signal
import subprocess
import sys
import time

import psutil
import pytest
from django.db import connection

from portal.inventory.models import Device
from tests.live import REPO, free_port, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _command_line(process: psutil.Process) -> list[str]:
    """A child's command line; a short-lived one (a worker being replaced) may be gone by the time we look."""
    try:
        return process.cmdline()
    except psutil.NoSuchProcess:
        return []


def test_run_fleet_brings_up_a_live_local_device_and_stops_cleanly(tmp_path):
    port = free_port()
    env = process_env(FLEETWATCH_DATA_DIR=str(tmp_path), FLEETWATCH_HEARTBEAT_SECONDS="1",
                      FLEETWATCH_WORKERS="1")
    fleet = subprocess.Popen([sys.executable, "manage.py", "run_fleet", "--with-local-agent", "--port", str(port)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def local_device_online():
            connection.close()
            return Device.objects.filter(company__name="Local machine", status="online").first()

        device = wait_for(local_device_online, timeout=60, what="the local agent's device online")
        children = psutil.Process(fleet.pid).children(recursive=True)
        commands = " ".join(" ".join(_command_line(child)) for child in children)
        assert "daphne" in commands and "qcluster" in commands and "fleetwatch_agent" in commands
    finally:
        fleet.send_signal(signal.SIGINT)
        output, _ = fleet.communicate(timeout=60)
    assert fleet.returncode == 0, output
    assert f"Fleetwatch is running at http://127.0.0.1:{port}/" in output and "Fleetwatch stopped." in output
    time.sleep(0.5)
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert (tmp_path / "agent" / "state" / "token.enc").exists()
    assert device.site.name == "This server"
