"""A real daphne serving the test database, and commands run in other processes against it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from realtime.server import daphne_command

REPO = Path(__file__).resolve().parent.parent


def database_url_for_processes() -> str:
    """The URL of the database this test run uses, for processes started by the tests."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    return f"postgres://{credentials}{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url_for_processes(), "DJANGO_SETTINGS_MODULE": "portal.settings",
            **extra}


def wait_for(condition, *, timeout: float = 20, interval: float = 0.2, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_in_other_process(code: str) -> str:
    """Run Python (after django.setup()) in a separate process against the test database."""
    script = "import django; django.setup()\n" + code
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=process_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


class LiveServer:
    def __init__(self, **env: str) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="fleetwatch-daphne-", suffix=".log")[1])

    def log(self) -> str:
        """What the server printed (shown when an end-to-end test fails)."""
        return self.log_path.read_text(errors="replace")[-20_000:]

    def start(self) -> None:
        self.process = subprocess.Popen(
            daphne_command(host="127.0.0.1", port=self.port), cwd=REPO, env=process_env(**self.env),
            stdout=subprocess.DEVNULL, stderr=self.log_path.open("w"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log()[-2000:]}")
            try:
                # Longer than the health check's own worst case (a 3 s channel-layer round trip), so a
                # slow answer is read rather than abandoned behind the server's one thread for sync views.
                with urllib.request.urlopen(f"{self.url}/api/health/", timeout=10):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not answer within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def live_daphne(transactional_db) -> Iterator[LiveServer]:
    # Agents heartbeat every second here so the end-to-end tests take seconds, not minutes.
    server = LiveServer(FLEETWATCH_HEARTBEAT_SECONDS="1")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(server.log())  # pytest shows it only when the test failed
        server.log_path.unlink(missing_ok=True)


async def in_thread(work):
    """Run ORM work from an async test in a worker thread, closing that thread's database connection
    afterwards (a connection left open would keep PostgreSQL from dropping the test database)."""
    import asyncio

    def call():
        try:
            return work()
        finally:
            connection.close()

    return await asyncio.to_thread(call)
