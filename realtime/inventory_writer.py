"""Inventories are written off the agents' answer path: one writer thread per server process.

A fleet's first connect brings thousands of full inventories (~100 KB, ~1,000 packages each). Written on
the thread that runs every other database call of the sockets, they queued handshakes and acks behind
them. Here each socket hands its inventory over and goes on; the writer applies them in batches on its own
thread and database connection, and a newer inventory of a device replaces one not yet written.
"""

from __future__ import annotations

import asyncio
import logging
import time

from portal.inventory.pending import PendingInventory, Stored, apply_inventories
from realtime.batch_writer import BatchWriter

logger = logging.getLogger(__name__)
# Inventories handed to the writer thread at once; each is compared outside its transaction and written
# in a short one. Between batches the writer steps aside, so the handshakes' own short writes get
# SQLite's one write lock without waiting on a stream of inventories.
BATCH = 8
PAUSE_SECONDS = 0.01
# After each batch the writer also rests as long as the batch kept its thread busy (CPU time, which is what
# holds Python's one interpreter lock): at most half of the interpreter goes to inventories. Niceness lowers
# only the thread's share of the CPU, not of the lock; in a 15,000-agent first connect a writer running flat
# out kept the loop from answering handshakes in time. Waits for the database hold no lock and are not
# counted: resting as long as the whole batch took (wall time) left a third of the cores idle, and a fleet's
# first inventories took over ten minutes to land on PostgreSQL.
REST_PER_BUSY_SECOND = 1.0
# And while the process's event loop is late (a rest that should have lasted t woke more than this after
# t: handshakes and acks are queued on it), the writer rests on, up to a bound so inventories still move
# on a server that is always busy.
LOOP_LATE_SECONDS = 0.05
BUSY_REST_SECONDS = 0.5
MAX_BUSY_RESTS = 20
# A fleet's first connect is minutes of inventory CPU (~25 ms each) on the cores that also answer every
# handshake and heartbeat: the writer's thread runs at a lower priority, so an inventory waits, not an ack.
NICENESS = 10


class InventoryWriter(BatchWriter):
    def __init__(self) -> None:
        super().__init__(name="inventory", niceness=NICENESS)
        self._pending: dict[int, tuple[PendingInventory, asyncio.Future[Stored]]] = {}

    def submit(self, pending: PendingInventory) -> asyncio.Future[Stored]:
        """Queue an inventory; the future says how it went once written (or that a newer one replaced it)."""
        loop = self._running_loop()
        older = self._pending.pop(pending.device_id, None)
        if older is not None and not older[1].done():
            older[1].set_result(Stored.REPLACED)
        outcome: asyncio.Future[Stored] = loop.create_future()
        self._pending[pending.device_id] = (pending, outcome)
        self._woken()
        return outcome

    def __len__(self) -> int:
        return len(self._pending)

    def _has_work(self) -> bool:
        return bool(self._pending)

    async def _write_some(self) -> None:
        device_ids = list(self._pending)[:BATCH]
        batch = [self._pending.pop(device_id) for device_id in device_ids]
        busy_seconds = 0.0
        try:
            outcomes, busy_seconds = await self._on_thread(lambda: _apply_timed([pending for pending, _ in batch]))
        except Exception:
            logger.exception("could not write a batch of %s inventories", len(batch))
            outcomes = {}
        for pending, outcome in batch:
            if not outcome.done():
                outcome.set_result(outcomes.get(pending.device_id, Stored.FAILED))
        await self._rest(busy_seconds=busy_seconds)

    async def _rest(self, *, busy_seconds: float) -> None:
        wanted = max(PAUSE_SECONDS, busy_seconds * REST_PER_BUSY_SECOND)
        for _ in range(MAX_BUSY_RESTS):
            before = time.monotonic()
            await asyncio.sleep(wanted)
            if time.monotonic() - before - wanted <= LOOP_LATE_SECONDS:
                return
            wanted = BUSY_REST_SECONDS


def _apply_timed(batch: list[PendingInventory]) -> tuple[dict[int, Stored], float]:
    """Apply a batch on the writer's thread; with the CPU time the thread spent on it."""
    started = time.thread_time()
    outcomes = apply_inventories(batch)
    return outcomes, time.thread_time() - started


INVENTORIES = InventoryWriter()
