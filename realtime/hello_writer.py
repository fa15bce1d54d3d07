"""Agents' hellos are written in batches: one writer thread per server process.

A hello marks the device online and held by its connection, and reads back its stored inventory hash and
the cancellations it may have missed. After a server restart every agent says hello within a minute: at
15,000 agents that was 250 write transactions a second, each waiting its turn for SQLite's one write lock
(PostgreSQL paid a commit each), and handshakes timed out behind them. Here each socket queues its hello;
the writer marks every queued device in one transaction and reads their hashes and cancellations in one
query each. The welcome goes out only after the transaction committed, as before. The actions waiting for
the batch's devices are fetched (and marked sent) in the same trip: after a restart nearly every device has
none, and asking the action writer once per hello besides cost each handshake another thread hand-over.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from portal.actions.delivery import cancel_frames_many, deliver_many
from portal.inventory.telemetry import AgentHello, mark_agents_connected
from realtime.batch_writer import BatchWriter

logger = logging.getLogger(__name__)
HELLO_BATCH = 500


@dataclass(frozen=True)
class Greeting:
    inventory_hash: str | None
    cancels: list[dict[str, Any]]
    # The first actions to send (up to delivery.MAX_ACTIONS_PER_DELIVERY), for a socket that takes actions;
    # None when they could not be fetched (the socket then asks the action writer itself).
    deliveries: list[dict[str, Any]] | None = None


def greet_all(hellos: list[AgentHello], *,
              delivering_to: set[int] | frozenset[int] = frozenset()) -> dict[int, Greeting]:
    """Every hello's device marked connected; its greeting, for each device that still exists, with the
    actions waiting for those of ``delivering_to``."""
    hashes = mark_agents_connected(hellos=hellos)
    cancels = cancel_frames_many(device_ids=list(hashes))
    deliveries: dict[int, list[dict[str, Any]]] | None
    try:
        deliveries = deliver_many(requests={device_id: set() for device_id in hashes if device_id in delivering_to})
    except Exception:  # the hellos are committed; each socket asks for its actions on its own
        logger.exception("could not fetch the actions waiting for %s greeted devices", len(delivering_to))
        deliveries = None
    return {device_id: Greeting(inventory_hash=inventory_hash, cancels=cancels.get(device_id, []),
                                deliveries=None if deliveries is None or device_id not in delivering_to
                                else deliveries.get(device_id, []))
            for device_id, inventory_hash in hashes.items()}


class HelloWriter(BatchWriter):
    def __init__(self) -> None:
        super().__init__(name="hellos")
        self._hellos: list[tuple[AgentHello, bool, asyncio.Future[Greeting | None]]] = []

    def greet(self, hello: AgentHello, *, takes_actions: bool = False) -> asyncio.Future[Greeting | None]:
        """Queue a hello; the future has its greeting once committed (with its first actions when the socket
        ``takes_actions``), or None when the device is gone."""
        outcome: asyncio.Future[Greeting | None] = self._running_loop().create_future()
        self._hellos.append((hello, takes_actions, outcome))
        self._woken()
        return outcome

    def _has_work(self) -> bool:
        return bool(self._hellos)

    async def _write_some(self) -> None:
        batch, self._hellos = self._hellos[:HELLO_BATCH], self._hellos[HELLO_BATCH:]
        delivering_to = {hello.device_id for hello, takes_actions, _ in batch if takes_actions}
        try:
            greetings = await self._on_thread(
                lambda: greet_all([hello for hello, _, _ in batch], delivering_to=delivering_to))
        except Exception as error:  # the sockets end; their agents reconnect after their backoff
            logger.exception("could not mark %s agents connected", len(batch))
            for _, _, outcome in batch:
                if not outcome.done():
                    outcome.set_exception(error)
            return
        for hello, _, outcome in batch:
            if not outcome.done():
                outcome.set_result(greetings.get(hello.device_id))


HELLOS = HelloWriter()
