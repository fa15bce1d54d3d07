"""Agent handshakes' tokens are checked in batches: one checker thread per server process.

Each handshake's token lookup was a query of its own on the agent sockets' threads. In a PostgreSQL
reconnect storm of 15,000 agents the eight threads spent their time handing Python's interpreter lock to
each other around every round trip (py-spy: two thirds of a web process in the token lookup, half the
machine's CPU in the kernel), and handshakes timed out behind them. Here each handshake queues its token;
the checker looks up every queued token in one query, so under load the batches grow by themselves and an
idle server adds no delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from portal.inventory.enrollment import AgentIdentity, authenticate_agents
from realtime.batch_writer import BatchWriter

logger = logging.getLogger(__name__)
CHECK_BATCH = 500


class TokenChecker(BatchWriter):
    def __init__(self, *, touch: Callable[[int], None], stale_after_seconds: float) -> None:
        super().__init__(name="handshakes")
        self._touch = touch
        self._stale_after = stale_after_seconds
        self._queued: list[tuple[str, float, asyncio.Future[AgentIdentity | None]]] = []

    def check(self, raw: str, queued_at: float) -> asyncio.Future[AgentIdentity | None]:
        """Queue a presented token; the future has its device, or None when the token is refused. A check
        that waited past ``stale_after_seconds`` ends with ``TimeoutError`` unchecked (its client has gone)."""
        outcome: asyncio.Future[AgentIdentity | None] = self._running_loop().create_future()
        self._queued.append((raw, queued_at, outcome))
        self._woken()
        return outcome

    def _has_work(self) -> bool:
        return bool(self._queued)

    async def _write_some(self) -> None:
        batch, self._queued = self._queued[:CHECK_BATCH], self._queued[CHECK_BATCH:]
        now = time.monotonic()
        current = []
        for raw, queued_at, outcome in batch:
            if now - queued_at > self._stale_after:
                if not outcome.done():
                    outcome.set_exception(TimeoutError("the handshake waited too long to be checked"))
            else:
                current.append((raw, outcome))
        if not current:
            return
        try:
            identities = await self._on_thread(
                lambda: authenticate_agents(raws=[raw for raw, _ in current], touch=self._touch))
        except Exception as error:  # the handshakes fail; their agents come back after their backoff
            logger.exception("could not check %s agent tokens", len(current))
            for _, outcome in current:
                if not outcome.done():
                    outcome.set_exception(error)
            return
        for raw, outcome in current:
            if not outcome.done():
                outcome.set_result(identities.get(raw))
