"""Agents' action results and deliveries are written in batches: one writer thread per server process.

A roll-out to a thousand online agents is a thousand results and a thousand next deliveries per task,
all at once. Written one socket at a time, each was its own transaction (SQLite takes writers one at a
time; PostgreSQL pays a commit each), and the roll-out crawled at a few hundred tasks a second. Here each
socket hands its report or delivery request over and waits; the writer stores every pending report in
one transaction and fetches every pending delivery in one query and one transaction, the way heartbeats
are batched.

Nothing changes in the guarantees: a result is acknowledged to the agent (``action_stored``) only after
its transaction committed, so a server lost mid-batch leaves it in the agent's spool, sent again on the
next connection; an action is marked sent before its frame goes out, and every sent, unfinished action is
delivered again on each new connection; the agent runs an action id once (its ledger), and a second
report for a finished action changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections

from portal.actions.delivery import AgentReport, deliver_many, store_reports

logger = logging.getLogger(__name__)
# Reports stored per transaction: large enough that a roll-out round is a few commits, small enough that
# SQLite's one write lock is held for a few hundred milliseconds at most.
REPORT_BATCH = 250
DELIVERY_BATCH = 500
_T = TypeVar("_T")


def _with_fresh_connection(work: Callable[[], _T]) -> _T:
    """As Channels does around each database call: a broken or expired connection is replaced."""
    close_old_connections()
    try:
        return work()
    finally:
        close_old_connections()


class ActionWriter:
    def __init__(self) -> None:
        self._reports: list[tuple[AgentReport, asyncio.Future[bool]]] = []
        self._deliveries: dict[int, tuple[set[int], list[asyncio.Future[list[dict[str, Any]]]]]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleetwatch-actions")
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._write_forever(), name="fleetwatch-action-writer")
        return loop

    def store(self, report: AgentReport) -> asyncio.Future[bool]:
        """Queue a result or refusal; the future says whether the action is known to the device, once the
        report's transaction has committed."""
        outcome: asyncio.Future[bool] = self._running_loop().create_future()
        self._reports.append((report, outcome))
        self._wake.set()
        return outcome

    def deliver(self, *, device_id: int, already_sent: set[int]) -> asyncio.Future[list[dict[str, Any]]]:
        """Queue a delivery for the device; the future has the frames of what waits for it, marked sent.
        Two requests for one device before the writer gets to them are one delivery."""
        outcome: asyncio.Future[list[dict[str, Any]]] = self._running_loop().create_future()
        sent, waiting = self._deliveries.setdefault(device_id, (set(already_sent), []))
        sent &= already_sent  # what every waiting request's connection has: nothing one of them lacks is skipped
        waiting.append(outcome)
        self._wake.set()
        return outcome

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._reports or self._deliveries:
                if self._reports:
                    await self._store_some(loop)
                if self._deliveries:
                    await self._deliver_some(loop)

    async def _store_some(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._reports = self._reports[:REPORT_BATCH], self._reports[REPORT_BATCH:]
        try:
            known = await loop.run_in_executor(self._executor, _with_fresh_connection, lambda: store_reports(
                reports=[report for report, _ in batch], notify_agent=False))
        except Exception as error:  # not acknowledged: the agents keep their spooled copies and resend
            logger.exception("could not store a batch of %s action reports", len(batch))
            for _, outcome in batch:
                if not outcome.done():
                    outcome.set_exception(error)
            return
        for (_, outcome), is_known in zip(batch, known, strict=True):
            if not outcome.done():
                outcome.set_result(is_known)

    async def _deliver_some(self, loop: asyncio.AbstractEventLoop) -> None:
        device_ids = list(self._deliveries)[:DELIVERY_BATCH]
        batch = {device_id: self._deliveries.pop(device_id) for device_id in device_ids}
        try:
            frames = await loop.run_in_executor(self._executor, _with_fresh_connection, lambda: deliver_many(
                requests={device_id: sent for device_id, (sent, _) in batch.items()}))
        except Exception as error:  # nothing was marked sent; the next delivery or connection sends it
            logger.exception("could not deliver actions to %s devices", len(batch))
            for _, waiting in batch.values():
                for outcome in waiting:
                    if not outcome.done():
                        outcome.set_exception(error)
            return
        for device_id, (_, waiting) in batch.items():
            for outcome in waiting:
                if not outcome.done():
                    outcome.set_result(frames.get(device_id, []))


ACTIONS = ActionWriter()
