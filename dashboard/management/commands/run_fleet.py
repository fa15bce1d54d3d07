"""Run the whole fleet server in the foreground: daphne (one process per core) and a django-q2 cluster,
stopped together."""

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
from django.core.management.base import BaseCommand, CommandError

from portal.inventory.local_agent import local_enrollment_token
from realtime.server import (
    daphne_command,
    daphne_on_socket_command,
    listening_sockets,
    shares_address,
    web_process_count,
)

STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = ("Start daphne (HTTP and websockets; one process per core, all on one address) and a django-q2 "
            "cluster, print the URL, and stop them all cleanly on Ctrl+C or SIGTERM. If one exits, the others "
            "are stopped too.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("FLEETWATCH_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("FLEETWATCH_PORT", 8000)))
        parser.add_argument("--web-processes", type=int, default=None,
                            help="daphne processes to start (default: FLEETWATCH_WEB_PROCESSES, or one per core).")
        parser.add_argument("--no-worker", action="store_true", help="Start the web server only.")
        parser.add_argument("--no-upgrade", action="store_true",
                            help="Do not apply pending migrations first (they are applied under a lock otherwise).")
        parser.add_argument("--with-local-agent", action="store_true",
                            help="Also run a Fleetwatch agent for this machine (enrolled on first start).")

    def handle(self, *args: Any, host: str, port: int, web_processes: int | None, no_worker: bool,
               with_local_agent: bool, **options: Any) -> None:
        from django.core.management import call_command

        if not options["no_upgrade"]:
            call_command("upgrade")  # migrations under a lock: several services may start at once
        manage = [sys.executable, "manage.py"]
        count = web_processes or web_process_count()
        if count < 1:
            raise CommandError("--web-processes must be 1 or more.")
        children: dict[str, subprocess.Popen] = {}
        if count > 1 and not shares_address(host):
            self.stderr.write(f"{host} is not an IPv4 address: starting one web process.")
            count = 1
        if count == 1:
            children["web"] = subprocess.Popen(daphne_command(host=host, port=port))
        else:
            try:
                listeners = listening_sockets(host=host, port=port, count=count)
            except OSError as error:
                raise CommandError(f"Cannot listen on {host}:{port}: {error.strerror or error}.") from error
            for number, listener in enumerate(listeners, start=1):
                children[f"web {number}"] = subprocess.Popen(daphne_on_socket_command(listener=listener),
                                                             pass_fds=(listener.fileno(),))
            for listener in set(listeners):
                listener.close()  # the daphne processes hold their own copies
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
                self.stdout.write(self.style.SUCCESS(
                    f"Fleetwatch is running at {url} with {count} web process{'es' if count > 1 else ''} "
                    f"(Ctrl+C stops it)"))
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
        web = [child for name, child in children.items() if name.startswith("web")]
        while time.monotonic() < deadline and all(child.poll() is None for child in web):
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
