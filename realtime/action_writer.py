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
from typing import Any

from portal.actions.delivery import AgentReport, deliver_many, store_reports
from realtime.batch_writer import BatchWriter

logger = logging.getLogger(__name__)
# Reports stored per transaction: large enough that a roll-out round is a few commits, small enough that
# SQLite's one write lock is held for a few hundred milliseconds at most.
REPORT_BATCH = 250
DELIVERY_BATCH = 500


class ActionWriter(BatchWriter):
    def __init__(self) -> None:
        super().__init__(name="actions")
        self._reports: list[tuple[AgentReport, asyncio.Future[bool]]] = []
        self._deliveries: dict[int, tuple[set[int], list[asyncio.Future[list[dict[str, Any]]]]]] = {}

    def store(self, report: AgentReport) -> asyncio.Future[bool]:
        """Queue a result or refusal; the future says whether the action is known to the device, once the
        report's transaction has committed."""
        outcome: asyncio.Future[bool] = self._running_loop().create_future()
        self._reports.append((report, outcome))
        self._woken()
        return outcome

    def deliver(self, *, device_id: int, already_sent: set[int]) -> asyncio.Future[list[dict[str, Any]]]:
        """Queue a delivery for the device; the future has the frames of what waits for it, marked sent.
        Two requests for one device before the writer gets to them are one delivery."""
        outcome: asyncio.Future[list[dict[str, Any]]] = self._running_loop().create_future()
        sent, waiting = self._deliveries.setdefault(device_id, (set(already_sent), []))
        sent &= already_sent  # what every waiting request's connection has: nothing one of them lacks is skipped
        waiting.append(outcome)
        self._woken()
        return outcome

    def _has_work(self) -> bool:
        return bool(self._reports or self._deliveries)

    async def _write_some(self) -> None:
        if self._reports:
            await self._store_some()
        if self._deliveries:
            await self._deliver_some()

    async def _store_some(self) -> None:
        batch, self._reports = self._reports[:REPORT_BATCH], self._reports[REPORT_BATCH:]
        try:
            known = await self._on_thread(lambda: store_reports(reports=[report for report, _ in batch],
                                                                notify_agent=False))
        except Exception as error:  # not acknowledged: the agents keep their spooled copies and resend
            logger.exception("could not store a batch of %s action reports", len(batch))
            for _, outcome in batch:
                if not outcome.done():
                    outcome.set_exception(error)
            return
        for (_, outcome), is_known in zip(batch, known, strict=True):
            if not outcome.done():
                outcome.set_result(is_known)

    async def _deliver_some(self) -> None:
        device_ids = list(self._deliveries)[:DELIVERY_BATCH]
        batch = {device_id: self._deliveries.pop(device_id) for device_id in device_ids}
        try:
            frames = await self._on_thread(lambda: deliver_many(
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
