"""Inventories are written by each server process's writer, off the path that answers agents: in
batches, one per device at a time (a newer one replaces an older one not yet written)."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading

import pytest

from portal.inventory.models import DeviceInventory, InstalledSoftware
from portal.inventory.pending import PendingInventory, Stored, apply_inventories
from realtime.inventory_writer import NICENESS, InventoryWriter

pytestmark = pytest.mark.django_db(transaction=True)


def _inventory(version: str) -> dict:
    return {"system": {"hostname": "alpha-host-1"}, "software": [{"name": "openssl", "version": version,
                                                                   "source": "dpkg"}]}


def test_a_newer_inventory_replaces_one_not_yet_written(tenant_a):
    device_id = tenant_a.device.pk

    async def submit_two() -> tuple[Stored, Stored]:
        writer = InventoryWriter()
        older = writer.submit(PendingInventory(device_id=device_id, content_hash="h1", data=_inventory("3.0.1")))
        newer = writer.submit(PendingInventory(device_id=device_id, content_hash="h2", data=_inventory("3.0.2")))
        return await asyncio.wait_for(older, 10), await asyncio.wait_for(newer, 10)

    assert asyncio.run(submit_two()) == (Stored.REPLACED, Stored.CHANGED)
    assert DeviceInventory.objects.get(device_id=device_id).content_hash == "h2"
    assert list(InstalledSoftware.objects.filter(device_id=device_id).values_list("version", flat=True)) == ["3.0.2"]


def test_one_failing_inventory_leaves_the_rest_of_its_batch_stored(tenant_a, tenant_b):
    outcomes = apply_inventories([
        PendingInventory(device_id=tenant_a.device.pk, content_hash="a", data=_inventory("1")),
        PendingInventory(device_id=987654, content_hash="gone", data=_inventory("1")),
        PendingInventory(device_id=tenant_b.device.pk, content_hash="b", data={"software": "not a list"}),
    ])
    assert outcomes == {tenant_a.device.pk: Stored.CHANGED, 987654: Stored.DEVICE_GONE,
                        tenant_b.device.pk: Stored.CHANGED}
    again = apply_inventories([PendingInventory(device_id=tenant_a.device.pk, content_hash="a",
                                                data=_inventory("1"))])
    assert again == {tenant_a.device.pk: Stored.UNCHANGED}
    assert DeviceInventory.objects.filter(content_hash__in=["a", "b"]).count() == 2


def test_an_inventory_from_the_socket_waits_compressed_and_is_written_as_sent(tenant_a):
    import json

    data = _inventory("3.1.0")
    data["software"] += [{"name": f"package-{n}", "version": "1.0", "source": "dpkg"} for n in range(500)]
    frame_text = json.dumps({"type": "inventory", "hash": "f" * 64, "data": data})
    pending = PendingInventory.from_frame(device_id=tenant_a.device.pk, content_hash="f" * 64, frame_text=frame_text)
    assert pending.data is None and len(pending.packed_frame) < len(frame_text) / 4
    assert apply_inventories([pending]) == {tenant_a.device.pk: Stored.CHANGED}
    assert InstalledSoftware.objects.filter(device=tenant_a.device).count() == 501
    assert DeviceInventory.objects.get(device=tenant_a.device).content_hash == "f" * 64


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own niceness is a Linux scheduler feature")
def test_the_inventory_writer_thread_runs_at_a_lower_priority_than_the_event_loop():
    def niceness_here() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def on_the_writer_thread() -> int:
        return await InventoryWriter()._on_thread(niceness_here)

    loop_niceness = niceness_here()
    assert asyncio.run(on_the_writer_thread()) == min(loop_niceness + NICENESS, 19)
    assert niceness_here() == loop_niceness  # the process and its other threads keep theirs


def _batches_applied(monkeypatch, work) -> list[tuple[float, float]]:
    """When each of three one-inventory batches started and ended, ``work`` being what each batch does."""
    import time

    from realtime import inventory_writer

    batches: list[tuple[float, float]] = []

    def apply(batch: list[PendingInventory]) -> dict[int, Stored]:
        started = time.monotonic()
        work()
        batches.append((started, time.monotonic()))
        return {pending.device_id: Stored.CHANGED for pending in batch}

    monkeypatch.setattr(inventory_writer, "apply_inventories", apply)
    monkeypatch.setattr(inventory_writer, "BATCH", 1)

    async def submit_three() -> list[Stored]:
        writer = InventoryWriter()
        outcomes = [writer.submit(PendingInventory(device_id=device_id, content_hash="h", data={}))
                    for device_id in (1, 2, 3)]
        return [await asyncio.wait_for(outcome, 10) for outcome in outcomes]

    assert asyncio.run(submit_three()) == [Stored.CHANGED] * 3
    assert len(batches) == 3
    return batches


def test_the_writer_rests_after_each_batch_as_long_as_it_kept_its_thread_busy(monkeypatch):
    """At most half of the interpreter goes to inventories, so handshakes and acks get the rest."""
    import time

    from realtime import inventory_writer

    def compute() -> None:
        started = time.thread_time()
        while time.thread_time() - started < 0.2:
            pass

    batches = _batches_applied(monkeypatch, compute)
    for (_, ended), (next_started, _) in itertools.pairwise(batches):
        assert next_started - ended >= 0.19 * inventory_writer.REST_PER_BUSY_SECOND


def test_waiting_on_the_database_is_not_rested_for(monkeypatch):
    """A batch that mostly waits (PostgreSQL's round trips) holds no interpreter lock: the next one follows."""
    import time

    from realtime import inventory_writer

    monkeypatch.setattr(inventory_writer, "LOOP_LATE_SECONDS", 10.0)  # a busy test machine's late loop aside
    batches = _batches_applied(monkeypatch, lambda: time.sleep(0.3))
    for (_, ended), (next_started, _) in itertools.pairwise(batches):
        assert next_started - ended < 0.15


def test_the_writer_rests_on_while_the_event_loop_is_late(monkeypatch):
    """A loop that wakes a rest late is busy with handshakes and acks: inventories wait (up to a bound)."""
    import time

    from realtime import inventory_writer

    monkeypatch.setattr(inventory_writer, "BUSY_REST_SECONDS", 0.05)
    monkeypatch.setattr(inventory_writer, "MAX_BUSY_RESTS", 4)

    async def rests_while(busy: bool) -> int:
        sleeps: list[float] = []
        real_sleep = asyncio.sleep

        async def counting_sleep(seconds: float) -> None:
            sleeps.append(seconds)
            await real_sleep(seconds)
            if busy:
                time.sleep(0.1)  # another task held the loop meanwhile

        monkeypatch.setattr(inventory_writer.asyncio, "sleep", counting_sleep)
        try:
            await InventoryWriter()._rest(busy_seconds=0.0)
        finally:
            monkeypatch.setattr(inventory_writer.asyncio, "sleep", real_sleep)
        return len(sleeps)

    assert asyncio.run(rests_while(False)) == 1
    assert asyncio.run(rests_while(True)) == 4  # rested on, and stopped at the bound
