"""What the agent socket reports about itself: to Prometheus (this host's /metrics) and to the process beat."""

from __future__ import annotations

import time

from portal.operations import services as beats
from portal.operations.metrics import (
    AGENTS_CONNECTED,
    AGENTS_CONNECTED_BY_PROCESS,
    FRAMES_REFUSED,
    HANDSHAKES_REFUSED,
    HEARTBEAT_ACK_SECONDS,
    HEARTBEATS,
)


def connected() -> None:
    AGENTS_CONNECTED.inc()
    AGENTS_CONNECTED_BY_PROCESS.inc()
    beats.agent_connected()


def disconnected() -> None:
    AGENTS_CONNECTED.dec()
    AGENTS_CONNECTED_BY_PROCESS.dec()
    beats.agent_disconnected()


def heartbeat_answered(*, arrived: float) -> None:
    HEARTBEATS.inc()
    HEARTBEAT_ACK_SECONDS.observe(time.monotonic() - arrived)


def frame_refused(reason: str) -> None:
    FRAMES_REFUSED.labels(reason=reason).inc()


def handshake_refused(reason: str) -> None:
    HANDSHAKES_REFUSED.labels(reason=reason).inc()
