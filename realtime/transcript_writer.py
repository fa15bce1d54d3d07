"""Shell transcripts are written in batches: one writer thread per server process, whatever the number of
open terminals (each hands over a compressed chunk every couple of seconds while it is busy)."""

from __future__ import annotations

import asyncio
import logging

from portal.remote.services import store_transcript_chunks
from realtime.batch_writer import BatchWriter

logger = logging.getLogger(__name__)
TRANSCRIPT_BATCH = 200
RETRIES = 30  # a second apart: a database that is away for half a minute loses nothing


class TranscriptWriter(BatchWriter):
    def __init__(self) -> None:
        super().__init__(name="transcripts")
        self._chunks: list[tuple[int, int, bytes, int]] = []
        self._failures = 0

    def add(self, *, session_id: int, seq: int, data: bytes, raw_bytes: int) -> None:
        self._running_loop()
        self._chunks.append((session_id, seq, data, raw_bytes))
        self._woken()

    async def flushed(self) -> None:
        """Returns once everything handed over so far is written (a session's end waits for its last chunk)."""
        while self._chunks:
            await self._write_some()

    def _has_work(self) -> bool:
        return bool(self._chunks)

    async def _write_some(self) -> None:
        batch, self._chunks = self._chunks[:TRANSCRIPT_BATCH], self._chunks[TRANSCRIPT_BATCH:]
        try:
            await self._on_thread(lambda: store_transcript_chunks(batch))
            self._failures = 0
        except Exception:
            self._failures += 1
            if self._failures > RETRIES:
                logger.exception("could not write %s transcript chunks after %s tries; they are dropped",
                                 len(batch), RETRIES)
                self._failures = 0
                return
            logger.warning("could not write %s transcript chunks; trying again in a second", len(batch))
            self._chunks[:0] = batch
            await asyncio.sleep(1)


TRANSCRIPTS = TranscriptWriter()
