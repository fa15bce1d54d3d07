"""The embedded mode's channel layer: Channels' in-memory layer with its expiry sweep rate-limited."""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer

SWEEP_EVERY_SECONDS = 1.0


class ProcessLocalChannelLayer(InMemoryChannelLayer):
    """Channels' InMemoryChannelLayer, except that its sweep for expired messages and memberships runs at
    most once a second. Upstream it runs on every send and receive and walks every channel and group
    membership, so with 5,000 agent sockets each published event cost a scan of 10,000 entries and
    heartbeat acks waited seconds behind the backlog."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY_SECONDS:
            return
        self._last_sweep = now
        super()._clean_expired()
