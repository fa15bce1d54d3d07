"""How Fleetwatch runs daphne: one command line, used by run_fleet, the tests and the benchmarks."""

from __future__ import annotations

import sys

# Agents reconnect all at once after a restart: a deep accept queue keeps their connects from being
# refused (Twisted's default backlog is 50).
LISTEN_BACKLOG = 4096


def daphne_command(*, host: str, port: int) -> list[str]:
    """daphne serving Fleetwatch: websockets never time out (agents hold them for days), a slow
    handshake during a reconnect storm gets 30 s instead of 5."""
    interface = host.replace(":", r"\:")
    return [sys.executable, "-m", "daphne", "-e", f"tcp:port={port}:interface={interface}:backlog={LISTEN_BACKLOG}",
            "--websocket_timeout", "-1", "--websocket_connect_timeout", "30", "portal.asgi:application"]
