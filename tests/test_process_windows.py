"""The per-process connect counter: the limit per window, a fresh count in the next window, bounded memory."""

from __future__ import annotations

import threading

import pytest

from portal import ratelimit
from portal.ratelimit import Limit, ProcessWindows


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_040.0]  # 20 s into a 60 s window
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    return now


def test_a_key_gets_the_limit_per_window_then_waits_for_the_next(clock):
    windows = ProcessWindows(limit=Limit(count=3, seconds=60))
    assert [windows.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert windows.take("a") == pytest.approx(40.0)
    assert windows.take("b") == 0.0  # another key counts on its own
    clock[0] += 40
    assert windows.take("a") == 0.0


def test_counters_of_past_windows_are_dropped_at_the_bound(clock):
    windows = ProcessWindows(limit=Limit(count=1, seconds=60), max_keys=100)
    for key in range(100):
        windows.take(key)
    clock[0] += 60
    windows.take("new")
    assert len(windows._counts) == 1
    for key in range(99):  # the current window may fill the bound; it never grows past it
        windows.take(f"now-{key}")
    windows.take("one-more")
    assert len(windows._counts) <= 100


def test_concurrent_takes_are_all_counted(clock):
    windows = ProcessWindows(limit=Limit(count=1000, seconds=60))
    threads = [threading.Thread(target=lambda: [windows.take("shared") for _ in range(100)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert windows._counts["shared"][1] == 800
