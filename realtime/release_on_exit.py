"""When a web process ends, the devices its agent sockets held are released in one statement.

Daphne cancels its sockets on shutdown without running their disconnect handlers, so each device still
named the ended process's connection. After a restart every agent's hello then announced to the whole
fleet that it replaced that connection (a channel-layer message per hello, handed back to the new socket
itself): 15,000 messages in the minute the server is busiest. A process killed outright releases nothing,
and its devices' next hellos announce as before.
"""

from __future__ import annotations

import atexit
import logging

from django.db import close_old_connections

from portal.inventory.telemetry import release_devices_held_through

logger = logging.getLogger(__name__)
_registered: set[str] = set()


def channel_prefix_of(channel_name: str) -> str:
    """The part of a channel name that names its process (``specific.<process>!``)."""
    return channel_name.split("!", 1)[0] + "!"


def release_held_devices_at_exit(*, channel_name: str) -> None:
    """Register, once per process, the release of the devices held through this process's channels."""
    prefix = channel_prefix_of(channel_name)
    if prefix not in _registered:
        _registered.add(prefix)
        atexit.register(_release, prefix)


def _release(prefix: str) -> None:
    try:
        close_old_connections()
        released = release_devices_held_through(channel_prefix=prefix)
        logger.info("released %s devices this process's agent sockets held", released)
    except Exception as error:  # the database may be gone first; the hellos then announce as before
        logger.warning("could not release the devices this process held (%s: %s)", type(error).__name__, error)
