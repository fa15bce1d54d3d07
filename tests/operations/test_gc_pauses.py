"""Garbage collections of a web process are timed to /metrics by generation, and a long one is logged."""

from __future__ import annotations

import gc
import logging

from portal.operations import gc_pauses
from portal.operations.metrics import GC_PAUSE_SECONDS


def _collections_counted(generation: int) -> float:
    for metric in GC_PAUSE_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("generation") == str(generation):
                return sample.value
    return 0.0


def test_each_collection_is_timed_by_generation(monkeypatch, caplog):
    gc_pauses.watch_garbage_collection()
    gc_pauses.watch_garbage_collection()  # once per process, however often it is called
    assert gc.callbacks.count(gc_pauses._on_collection) == 1
    before = _collections_counted(2)
    monkeypatch.setattr(gc_pauses, "LONG_PAUSE_SECONDS", 0.0)  # every collection counts as long here
    with caplog.at_level(logging.WARNING, logger="portal.operations.gc_pauses"):
        gc.collect()
    assert _collections_counted(2) == before + 1
    assert "a garbage collection of generation 2 stopped this process for" in caplog.text
