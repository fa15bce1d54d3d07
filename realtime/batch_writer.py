"""What the per-process writers share: requests queued by the sockets, written in batches on one thread.

Each writer (actions, hellos, inventories) owns a thread and a database connection of its own. Sockets
queue a request and await its future; the writer wakes, takes what queued meanwhile and writes it in one
go, so under load the batches grow by themselves and an idle server adds no delay.
"""

from __future__ import annotations

import abc
import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import close_old_connections

_T = TypeVar("_T")


def _with_fresh_connection(work: Callable[[], _T]) -> _T:
    """As Channels does around each database call: a broken or expired connection is replaced."""
    close_old_connections()
    try:
        return work()
    finally:
        close_old_connections()


def _lower_this_threads_priority(niceness: int) -> None:
    """On Linux a thread is a task of its own, so its niceness can be raised alone: the scheduler then gives a
    busy process's other threads (the event loop answering sockets) the core first. Elsewhere ``setpriority``
    with a thread id would name a process, so it is left alone."""
    if niceness and sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class BatchWriter(abc.ABC):
    """Subclasses keep their own queue, say whether it holds work and write one batch of it."""

    def __init__(self, *, name: str, niceness: int = 0) -> None:
        self._name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fleetwatch-{name}",
                                            initializer=_lower_this_threads_priority, initargs=(niceness,))
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, with this writer's task started on it (once per loop)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._write_forever(), name=f"fleetwatch-{self._name}-writer")
        return loop

    def _woken(self) -> None:
        assert self._wake is not None
        self._wake.set()

    async def _on_thread(self, work: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, _with_fresh_connection, work)

    @abc.abstractmethod
    def _has_work(self) -> bool:
        """Whether anything is queued."""

    @abc.abstractmethod
    async def _write_some(self) -> None:
        """Write one batch of what is queued and settle its futures."""

    async def _write_forever(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._has_work():
                await self._write_some()
