"""How Fleetwatch runs daphne: one command line, used by run_fleet, the tests and the benchmarks.

Several daphne processes serve one address (one per core by default): each gets its own listening socket
bound with SO_REUSEPORT, so the kernel spreads new connections evenly across them, and each process is a
full peer (an agent may sit on any of them; pushes reach it through the channel layer with Redis, or
through the event table each process relays in embedded mode).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

# Agents reconnect all at once after a restart: a deep accept queue keeps their connects from being
# refused (Twisted's default backlog is 50).
LISTEN_BACKLOG = 4096


def web_process_count() -> int:
    """How many daphne processes run_fleet starts: FLEETWATCH_WEB_PROCESSES, or one per core."""
    configured = os.environ.get("FLEETWATCH_WEB_PROCESSES", "").strip()
    if configured:
        count = int(configured)
        if count < 1:
            raise ValueError("FLEETWATCH_WEB_PROCESSES must be 1 or more.")
        return count
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a name: let the resolver say
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]


def shares_address(host: str) -> bool:
    """Whether several daphne processes can serve ``host`` (IPv4 only, see daphne_on_socket_command)."""
    return _family(host) == socket.AF_INET


def listening_sockets(*, host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one IPv4 address, inheritable by child processes.

    With SO_REUSEPORT each process has its own accept queue and the kernel balances connections across
    them; without it (not every platform has it) the processes share one socket."""
    family = _family(host)
    reuse_port = hasattr(socket, "SO_REUSEPORT") and count > 1
    sockets: list[socket.socket] = []
    try:
        for _ in range(count if reuse_port else 1):
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((host, port))
            listener.listen(LISTEN_BACKLOG)
            listener.set_inheritable(True)
            sockets.append(listener)
            port = listener.getsockname()[1]  # port 0 picks one port for all of them
    except OSError:
        for listener in sockets:
            listener.close()
        raise
    return sockets if reuse_port else sockets * count


def _daphne_options() -> list[str]:
    # Websockets never time out (agents hold them for days); a slow handshake during a reconnect storm
    # gets 30 s instead of 5.
    return ["--websocket_timeout", "-1", "--websocket_connect_timeout", "30", "portal.asgi:application"]


def daphne_command(*, host: str, port: int) -> list[str]:
    """One daphne that binds the address itself (tests, benchmarks, a single process)."""
    interface = host.replace(":", r"\:")
    return [sys.executable, "-m", "daphne", "-e", f"tcp:port={port}:interface={interface}:backlog={LISTEN_BACKLOG}",
            *_daphne_options()]


def daphne_on_socket_command(*, listener: socket.socket) -> list[str]:
    """One daphne serving an already listening IPv4 socket it inherits (pass its fd to the child).

    Twisted's ``fd:`` endpoint adopts IPv4 sockets only, so an IPv6 address is served by one process."""
    if listener.family != socket.AF_INET:
        raise ValueError("Several web processes share IPv4 addresses only.")
    return [sys.executable, "-m", "daphne", "-e", f"fd:fileno={listener.fileno()}", *_daphne_options()]
