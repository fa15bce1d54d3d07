"""Run the whole fleet server in the foreground: daphne and a django-q2 cluster, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from django.core.management.base import BaseCommand

STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = ("Start daphne (HTTP and websockets) and a django-q2 cluster, print the URL, and stop both "
            "cleanly on Ctrl+C or SIGTERM. If either exits, the other is stopped too.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("FLEETWATCH_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("FLEETWATCH_PORT", 8000)))
        parser.add_argument("--no-worker", action="store_true", help="Start the web server only.")

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, **options: Any) -> None:
        from django.core.management import call_command

        call_command("sync_schedules")
        manage = [sys.executable, "manage.py"]
        children: dict[str, subprocess.Popen] = {
            # Agents hold their socket for days: daphne must not cut websockets after its default 24 h.
            "web": subprocess.Popen([sys.executable, "-m", "daphne", "-b", host, "-p", str(port),
                                     "--websocket_timeout", "-1", "portal.asgi:application"]),
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
        if self._wait_until_healthy(url, children):
            self.stdout.write(self.style.SUCCESS(f"Fleetwatch is running at {url}  (Ctrl+C stops it)"))
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"The {name} process exited with status {child.returncode}; stopping.")
                    stopping, exit_code = True, 1
            time.sleep(0.5)
        self._stop(children)
        self.stdout.write("Fleetwatch stopped.")
        if exit_code:
            sys.exit(exit_code)

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
