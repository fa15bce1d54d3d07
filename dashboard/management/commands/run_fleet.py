"""Run the whole fleet server in the foreground: daphne and a django-q2 cluster, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.inventory.local_agent import local_enrollment_token
from realtime.server import daphne_command

STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = ("Start daphne (HTTP and websockets) and a django-q2 cluster, print the URL, and stop both "
            "cleanly on Ctrl+C or SIGTERM. If either exits, the other is stopped too.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("FLEETWATCH_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("FLEETWATCH_PORT", 8000)))
        parser.add_argument("--no-worker", action="store_true", help="Start the web server only.")
        parser.add_argument("--with-local-agent", action="store_true",
                            help="Also run a Fleetwatch agent for this machine (enrolled on first start).")

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, with_local_agent: bool,
               **options: Any) -> None:
        from django.core.management import call_command

        call_command("sync_schedules")
        manage = [sys.executable, "manage.py"]
        children: dict[str, subprocess.Popen] = {
            "web": subprocess.Popen(daphne_command(host=host, port=port)),
        }
        if not no_worker:
            children["worker"] = subprocess.Popen([*manage, "qcluster"])
        stopping = False

        def request_stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        url = f"http://{host}:{port}/"
        exit_code = 0
        try:
            if self._wait_until_healthy(url, children):
                self.stdout.write(self.style.SUCCESS(f"Fleetwatch is running at {url}  (Ctrl+C stops it)"))
                if with_local_agent:
                    agent = self._start_local_agent(url)
                    if agent is not None:
                        children["agent"] = agent
            while not stopping:
                for name, child in list(children.items()):
                    if child.poll() is None:
                        continue
                    if name == "agent":  # the fleet goes on without its local agent
                        self.stderr.write(f"The local agent stopped (status {child.returncode}); see "
                                          f"'fleetwatch-agent status'. The server goes on.")
                        del children[name]
                        continue
                    self.stderr.write(f"The {name} process exited with status {child.returncode}; stopping.")
                    stopping, exit_code = True, 1
                time.sleep(0.5)
        finally:
            # Whatever happened above, no server process outlives this command.
            self._stop(children)
        self.stdout.write("Fleetwatch stopped.")
        if exit_code:
            sys.exit(exit_code)

    def _start_local_agent(self, url: str) -> subprocess.Popen | None:
        """Enroll the local agent through the real enrollment endpoint the first time, then run it."""
        directory = Path(settings.DATA_DIR) / "agent"
        config = directory / "agent.toml"
        if not config.exists():
            directory.mkdir(parents=True, exist_ok=True)
            config.write_text(f'state_dir = "{directory / "state"}"\nlog_level = "WARNING"\n')
        agent = [sys.executable, "-m", "fleetwatch_agent", "--config", str(config)]
        if subprocess.run([*agent, "status"], capture_output=True).returncode != 0:
            enrolled = subprocess.run([*agent, "enroll", "--force", "--server", url.rstrip("/"),
                                       "--token", local_enrollment_token()], capture_output=True, text=True)
            if enrolled.returncode != 0:
                self.stderr.write(f"Could not enroll the local agent: {enrolled.stderr.strip()}")
                return None
            self.stdout.write("Enrolled a Fleetwatch agent for this machine (company 'Local machine').")
        self.stdout.write("Started the local agent: this machine appears under Devices.")
        return subprocess.Popen([*agent, "run"])

    def _wait_until_healthy(self, url: str, children: dict[str, subprocess.Popen]) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and children["web"].poll() is None:
            try:
                with urllib.request.urlopen(url + "api/health/", timeout=2):  # noqa: S310 (our own loopback URL)
                    return True
            except OSError:
                time.sleep(0.3)
        return False

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
