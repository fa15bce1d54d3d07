"""The real agent process for action tests: enrolled against a live daphne, started and stopped at will."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.db import connection

from portal.access import system_actor
from portal.actions.models import Action
from portal.inventory.enrollment import create_enrollment_token
from portal.inventory.models import Device
from tests.live import REPO, wait_for


class AgentHandle:
    def __init__(self, *, directory: Path, server_url: str, site, settings: str = "") -> None:
        """``settings``: TOML lines in place of the defaults here (no updates or software collected, system
        changes simulated)."""
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "agent.toml"
        self.config.write_text(f'state_dir = "{directory / "state"}"\nbackoff_initial = 0.3\nbackoff_max = 1.0\n'
                               + (settings or "collect_updates = false\ncollect_software = false\n"
                                              "simulate_system_changes = true\n"))
        issued = create_enrollment_token(actor=system_actor(), site=site, name="actions e2e", max_uses=5)
        enrolled = subprocess.run([sys.executable, "-m", "fleetwatch_agent", "--config", str(self.config), "enroll",
                                   "--server", server_url, "--token", issued.plaintext],
                                  cwd=REPO, capture_output=True, text=True, timeout=60)
        assert enrolled.returncode == 0, enrolled.stderr
        self.device = Device.objects.latest("pk")
        self.process: subprocess.Popen | None = None
        self.log_path = directory / "agent-output.log"

    def start(self, **env: str) -> None:
        """Run the agent; ``env`` reaches the scripts it runs (they inherit the agent's environment)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fleetwatch_agent", "--config", str(self.config), "run"], cwd=REPO,
            stdout=self.log_path.open("a"), stderr=subprocess.STDOUT, env={**os.environ, **env})
        wait_for(lambda: device_status(self.device.pk) == "online", what="agent online")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)
        connection.close()
        wait_for(lambda: device_status(self.device.pk) == "offline", timeout=15, what="agent offline")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def device_status(pk: int) -> str:
    connection.close()  # see the other processes' commits, not a stale snapshot
    return Device.objects.get(pk=pk).status


def fresh(action: Action) -> Action:
    connection.close()
    return Action.objects.get(pk=action.pk)


def wait_for_status(action: Action, *statuses: str, timeout: float = 30) -> Action:
    def reached() -> Action | None:
        current = fresh(action)
        return current if current.status in statuses else None

    return wait_for(reached, timeout=timeout, what=f"action {action.pk} to become {'/'.join(statuses)}")
