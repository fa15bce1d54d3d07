"""`make up`'s last step: run_fleet starts daphne (one process per core, on one address), a worker and a
local agent, and stops them all."""

import signal
import socket
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


def _connections_land_on_every_process(port: int, web: list[psutil.Process]) -> bool:
    """The kernel spreads new connections over the web processes (each has its own socket on the port)."""
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
    try:
        ours = {client.getsockname()[1] for client in clients}

        def each_holds_some():
            held = [sum(1 for c in process.net_connections("tcp") if c.raddr and c.raddr.port in ours)
                    for process in web]
            return all(held) and sum(held) == len(clients)

        return wait_for(each_holds_some, timeout=10, what="connections accepted by both web processes")
    finally:
        for client in clients:
            client.close()


def test_run_fleet_brings_up_a_live_local_device_and_stops_cleanly(tmp_path):
    port = free_port()
    env = process_env(FLEETWATCH_DATA_DIR=str(tmp_path), FLEETWATCH_HEARTBEAT_SECONDS="1",
                      FLEETWATCH_WORKERS="1")
    fleet = subprocess.Popen([sys.executable, "manage.py", "run_fleet", "--with-local-agent", "--port", str(port),
                              "--web-processes", "2"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def local_device_online():
            connection.close()
            return Device.objects.filter(company__name="Local machine", status="online").first()

        device = wait_for(local_device_online, timeout=60, what="the local agent's device online")
        children = psutil.Process(fleet.pid).children(recursive=True)
        commands = " ".join(" ".join(_command_line(child)) for child in children)
        assert "daphne" in commands and "qcluster" in commands and "fleetwatch_agent" in commands
        web = [child for child in children if "daphne" in " ".join(_command_line(child))]
        assert len(web) == 2
        assert _connections_land_on_every_process(port, web)
    finally:
        fleet.send_signal(signal.SIGINT)
        output, _ = fleet.communicate(timeout=60)
    assert fleet.returncode == 0, output
    assert f"Fleetwatch is running at http://127.0.0.1:{port}/" in output and "Fleetwatch stopped." in output
    time.sleep(0.5)
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert (tmp_path / "agent" / "state" / "token.enc").exists()
    assert device.site.name == "This server"
