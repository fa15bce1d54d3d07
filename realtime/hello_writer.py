"""Agents' hellos are written in batches: one writer thread per server process.

A hello marks the device online and held by its connection, and reads back its stored inventory hash and
the cancellations it may have missed. After a server restart every agent says hello within a minute: at
15,000 agents that was 250 write transactions a second, each waiting its turn for SQLite's one write lock
(PostgreSQL paid a commit each), and handshakes timed out behind them. Here each socket queues its hello;
the writer marks every queued device in one transaction and reads their hashes and cancellations in one
query each. The welcome goes out only after the transaction committed, as before.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from portal.actions.delivery import cancel_frames_many
from portal.inventory.telemetry import AgentHello, mark_agents_connected
from realtime.batch_writer import BatchWriter

logger = logging.getLogger(__name__)
HELLO_BATCH = 500


@dataclass(frozen=True)
class Greeting:
    inventory_hash: str | None
    cancels: list[dict[str, Any]]


def greet_all(hellos: list[AgentHello]) -> dict[int, Greeting]:
    """Every hello's device marked connected; its greeting, for each device that still exists."""
    hashes = mark_agents_connected(hellos=hellos)
    cancels = cancel_frames_many(device_ids=list(hashes))
    return {device_id: Greeting(inventory_hash=inventory_hash, cancels=cancels.get(device_id, []))
            for device_id, inventory_hash in hashes.items()}


class HelloWriter(BatchWriter):
    def __init__(self) -> None:
        super().__init__(name="hellos")
        self._hellos: list[tuple[AgentHello, asyncio.Future[Greeting | None]]] = []

    def greet(self, hello: AgentHello) -> asyncio.Future[Greeting | None]:
        """Queue a hello; the future has its greeting once committed, or None when the device is gone."""
        outcome: asyncio.Future[Greeting | None] = self._running_loop().create_future()
        self._hellos.append((hello, outcome))
        self._woken()
        return outcome

    def _has_work(self) -> bool:
        return bool(self._hellos)

    async def _write_some(self) -> None:
        batch, self._hellos = self._hellos[:HELLO_BATCH], self._hellos[HELLO_BATCH:]
        try:
            greetings = await self._on_thread(lambda: greet_all([hello for hello, _ in batch]))
        except Exception as error:  # the sockets end; their agents reconnect after their backoff
            logger.exception("could not mark %s agents connected", len(batch))
            for _, outcome in batch:
                if not outcome.done():
                    outcome.set_exception(error)
            return
        for hello, outcome in batch:
            if not outcome.done():
                outcome.set_result(greetings.get(hello.device_id))


HELLOS = HelloWriter()
