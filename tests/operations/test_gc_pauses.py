"""Garbage collections of a web process are timed to /metrics by generation, and a long one is logged."""

from __future__ import annotations

import gc
import logging
import re
import threading

import pytest

from portal.operations import gc_pauses
from portal.operations.metrics import GC_PAUSE_SECONDS


def _collections_counted(generation: int) -> float:
    for metric in GC_PAUSE_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("generation") == str(generation):
                return sample.value
    return 0.0


@pytest.fixture(autouse=True)
def _callbacks_as_they_were():
    """A callback this module registers is taken off again: left on, a collection during the interpreter's
    teardown would log to a closed stream."""
    before = list(gc.callbacks)
    yield
    gc.callbacks[:] = before


def test_each_collection_is_timed_by_generation(monkeypatch, caplog):
    gc_pauses.watch_garbage_collection()
    gc_pauses.watch_garbage_collection()  # once per process, however often it is called
    assert gc.callbacks.count(gc_pauses._on_collection) == 1
    before = _collections_counted(2)
    monkeypatch.setattr(gc_pauses, "LONG_PAUSE_SECONDS", 0.0)  # every collection counts as long here
    with caplog.at_level(logging.WARNING, logger="portal.operations.gc_pauses"):
        gc.collect()
    assert _collections_counted(2) == before + 1
    line = re.search(r"generation 2 stopped this process for (\d+) ms, (\d+) ms of it on a core", caplog.text)
    assert line is not None, caplog.text
    assert int(line[2]) <= int(line[1])  # the collection's own work is part of the pause, never more


def test_a_pause_while_the_process_waits_for_a_core_says_so(monkeypatch, caplog):
    """A collection that took long on the wall clock but little on the thread's CPU clock (the process was
    waiting for a core) is logged with both, so a reader tells the collector's cost from a busy machine."""
    monkeypatch.setattr(gc_pauses, "LONG_PAUSE_SECONDS", 0.1)
    wall = iter([10.0, 10.25])
    cpu = iter([3.0, 3.01])
    monkeypatch.setattr(gc_pauses, "_wall_clock", lambda: next(wall))
    monkeypatch.setattr(gc_pauses, "_cpu_clock", lambda: next(cpu))
    with caplog.at_level(logging.WARNING, logger="portal.operations.gc_pauses"):
        gc_pauses._on_collection("start", {"generation": 1})
        gc_pauses._on_collection("stop", {"generation": 1, "collected": 12})
    assert ("generation 1 stopped this process for 250 ms, 10 ms of it on a core (12 objects collected; run by "
            "thread MainThread)") in caplog.text


def test_a_collection_names_the_thread_that_ran_it(monkeypatch, caplog):
    monkeypatch.setattr(gc_pauses, "LONG_PAUSE_SECONDS", 0.0)
    gc_pauses.watch_garbage_collection()
    with caplog.at_level(logging.WARNING, logger="portal.operations.gc_pauses"):
        worker = threading.Thread(target=gc.collect, args=(0,), name="fleetwatch-inventory_0")
        worker.start()
        worker.join()
    assert re.search(r"generation 0 stopped .* run by thread fleetwatch-inventory_0\)", caplog.text), caplog.text
