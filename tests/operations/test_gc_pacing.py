"""A web process collects its young generation every second, not only when allocations outrun frees."""

from __future__ import annotations

import asyncio
import gc

import pytest
from channels.testing import HttpCommunicator

from portal.operations import gc_pacing


@pytest.fixture
def python_thresholds_as_in_a_web_process():
    """The thresholds portal/asgi.py sets, with collection on; put back as they were afterwards."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.collect()
    gc.set_threshold(50_000, 3, 1_500)
    gc.enable()
    yield
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def _replace_every_entry(kept: list[list[int]]) -> None:
    """What a busy process does: each new object takes the place of an older one, so Python's count of
    allocations minus frees stays put while the young generation fills."""
    for index in range(len(kept)):
        kept[index] = [index]


def test_objects_kept_while_others_are_freed_pile_up_until_a_paced_collection(
        python_thresholds_as_in_a_web_process):
    kept = [[index] for index in range(200_000)]
    gc.collect()  # all of them old now
    _replace_every_entry(kept)
    # Python's own trigger never fired: its count barely moved, yet the young generation holds them all.
    assert gc.get_count()[0] < 1_000
    assert len(gc.get_objects(generation=0)) >= 200_000
    gc_pacing.collect_young_generations()
    assert len(gc.get_objects(generation=0)) < 1_000


def test_every_fourth_paced_collection_takes_the_middle_generation(python_thresholds_as_in_a_web_process):
    gc.collect()
    kept, middle_sizes = [], []
    for _ in range(4):
        kept.append([[index] for index in range(20_000)])  # under Python's threshold each time
        gc_pacing.collect_young_generations()
        middle_sizes.append(len(gc.get_objects(generation=1)))
    # The survivors of young collections gather in the middle generation, until the fourth collection finds
    # three young ones counted there (Python's second threshold) and moves them on to the oldest.
    assert middle_sizes[0] >= 20_000 and middle_sizes[1] >= 40_000 and middle_sizes[2] >= 60_000
    assert middle_sizes[3] < 1_000
    assert gc.get_count()[2] >= 1  # the oldest generation's own rule still sees them coming


def test_nothing_is_collected_where_collection_is_disabled(python_thresholds_as_in_a_web_process):
    gc.disable()
    kept = [[index] for index in range(1_000)]
    gc.collect()
    _replace_every_entry(kept)
    assert gc_pacing.collect_young_generations() == 0
    assert len(gc.get_objects(generation=0)) >= 1_000


def test_one_pacer_per_process_on_the_loop_that_serves_it(monkeypatch, python_thresholds_as_in_a_web_process):
    monkeypatch.setattr(gc_pacing, "PACE_SECONDS", 0.01)
    monkeypatch.setattr(gc_pacing, "_pacer", None)
    kept = [[index] for index in range(50_000)]
    gc.collect()

    async def serve() -> tuple[int, int]:
        gc_pacing.pace_young_collections()
        first = gc_pacing._pacer
        gc_pacing.pace_young_collections()  # every connection calls it: still one
        assert gc_pacing._pacer is first
        _replace_every_entry(kept)
        before = len(gc.get_objects(generation=0))
        for _ in range(100):  # until the pacer's next tick has run
            await asyncio.sleep(0.02)
            if len(gc.get_objects(generation=0)) < 1_000:
                break
        first.cancel()
        return before, len(gc.get_objects(generation=0))

    before, after = asyncio.run(serve())
    assert before >= 50_000 and after < 1_000


@pytest.mark.django_db(transaction=True)
def test_a_web_process_starts_pacing_with_its_first_request(monkeypatch):
    from portal.asgi import application  # importing it freezes the heap and sets thresholds: only here

    monkeypatch.setattr(gc_pacing, "_pacer", None)

    async def first_request() -> tuple[int, bool]:
        communicator = HttpCommunicator(application, "GET", "/api/health/", headers=[(b"host", b"testserver")])
        response = await communicator.get_response(timeout=10)
        pacer = gc_pacing._pacer
        paced_here = pacer is not None and not pacer.done() and pacer.get_loop() is asyncio.get_running_loop()
        if pacer is not None:
            pacer.cancel()
        return response["status"], paced_here

    status, paced_here = asyncio.run(first_request())
    assert status == 200 and paced_here
