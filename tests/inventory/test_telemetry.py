"""Heartbeats in batches, inventory with its change history, connection state and the silence sweep."""

import gc
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.inventory.enrollment import issue_agent_token
from portal.inventory.models import (
    Device,
    DeviceInventory,
    DeviceService,
    InstalledSoftware,
    InventoryChange,
    MetricSample,
    PendingPatch,
)
from portal.inventory.telemetry import (
    HeartbeatBuffer,
    apply_inventory,
    heartbeat_from,
    mark_agent_connected,
    mark_agent_disconnected,
    prune_metric_history,
    sweep_silent_agents,
)
from tests import factories

pytestmark = pytest.mark.django_db

INVENTORY = {
    "system": {"hostname": "alpha-host-1", "os_version": "Debian 12", "kernel": "6.1.0", "boot_time": 1_700_000_000},
    "cpu": {"model": "Xeon", "cores": 8}, "memory": {"total": 16 * 2**30},
    "disks": [{"mount": "/", "size": 100, "used": 50}], "interfaces": [{"name": "eth0", "ipv4": ["10.0.0.5"]}],
    "users": [], "software": [{"name": "openssl", "version": "3.0.1", "source": "dpkg"},
                              {"name": "curl", "version": "7.88", "source": "dpkg"}],
    "services": [{"name": "ssh.service", "status": "running"}, {"name": "cron.service", "status": "running"}],
    "pending_updates": [{"id": "openssl", "title": "openssl 3.0.2", "source": "apt"}],
}


def test_heartbeats_are_written_in_one_batch(tenant_a):
    devices = [tenant_a.device] + [factories.DeviceFactory(site=tenant_a.site) for _ in range(49)]
    _forget_watchers(devices)  # an open device page would add its push (see the test below)
    buffer = HeartbeatBuffer()
    for round_ in range(3):
        for device in devices:
            buffer.add(heartbeat_from(device.pk, {"cpu_percent": 10 + round_, "memory_percent": 50}))
    with CaptureQueriesContext(connection) as captured:
        assert buffer.flush() == 50
    writes = [q["sql"] for q in captured if "UPDATE" in q["sql"] or "INSERT" in q["sql"]]
    # one prepared UPDATE run for 50 devices and one INSERT for 150 samples (executemany each)
    assert len(writes) == 2 and writes[0].startswith("50 times") and writes[1].startswith("150 times")
    assert MetricSample.objects.count() == 150
    tenant_a.device.refresh_from_db()
    assert tenant_a.device.cpu_percent == 12 and tenant_a.device.last_seen is not None
    assert len(buffer) == 0


def _forget_watchers(devices) -> None:
    from django.core.cache import cache

    cache.delete_many([f"fleetwatch:watching:device:{device.pk}" for device in devices])


def test_heartbeats_are_pushed_only_for_devices_whose_page_is_open(tenant_a, monkeypatch):
    from portal.events.watching import mark_watched
    from portal.inventory import telemetry

    published = []
    monkeypatch.setattr(telemetry, "publish_to_group", lambda group, message: published.append((group, message)))

    watched, unwatched = tenant_a.device, factories.DeviceFactory(site=tenant_a.site)
    _forget_watchers([watched, unwatched])
    mark_watched(device_id=watched.pk)
    buffer = HeartbeatBuffer()
    for device in (watched, unwatched):
        buffer.add(heartbeat_from(device.pk, {"cpu_percent": 5, "memory_percent": 50}))
    buffer.flush()
    assert [(group, m["event"], m["id"]) for group, m in published] == [
        (f"device.{watched.pk}.watch", "device.metrics", watched.pk)]


def test_heartbeat_values_that_are_not_numbers_are_dropped(tenant_a):
    heartbeat = heartbeat_from(tenant_a.device.pk, {"cpu_percent": "DROP TABLE", "memory_percent": 250})
    assert heartbeat.cpu_percent is None and heartbeat.memory_percent == 100.0


def test_heartbeats_of_deleted_devices_are_skipped(tenant_a):
    buffer = HeartbeatBuffer()
    buffer.add(heartbeat_from(tenant_a.device.pk, {"cpu_percent": 1}))
    buffer.add(heartbeat_from(987654, {"cpu_percent": 1}))
    assert buffer.flush() == 1


def test_first_inventory_is_a_baseline_then_changes_are_history(tenant_a, published):
    device = tenant_a.device
    assert apply_inventory(device_id=device.pk, content_hash="a" * 64, data=INVENTORY)
    assert InstalledSoftware.objects.filter(device=device).count() == 2
    assert not InventoryChange.objects.filter(kind="software").exists()
    assert DeviceInventory.objects.get(device=device).cpu_cores == 8
    assert not apply_inventory(device_id=device.pk, content_hash="a" * 64, data=INVENTORY)  # same hash

    changed = {**INVENTORY,
               "software": [{"name": "openssl", "version": "3.0.2", "source": "dpkg"},
                            {"name": "nginx", "version": "1.22", "source": "dpkg"}],
               "services": [{"name": "ssh.service", "status": "stopped"},
                            {"name": "cron.service", "status": "running"}],
               "pending_updates": []}
    assert apply_inventory(device_id=device.pk, content_hash="b" * 64, data=changed)
    history = set(InventoryChange.objects.filter(device=device).values_list("kind", "change", "name"))
    assert {("software", "updated", "openssl"), ("software", "installed", "nginx"),
            ("software", "removed", "curl"), ("service", "stopped", "ssh.service"),
            ("patch", "cleared", "openssl")} <= history
    assert DeviceService.objects.get(device=device, name="ssh.service").status == "stopped"
    assert not PendingPatch.objects.filter(device=device).exists()
    assert [m["event"] for m in published].count("device.inventory_changed") == 2


def test_storing_an_inventory_leaves_no_cycle_for_the_garbage_collector(tenant_a):
    """A fleet's first connect stores thousands of inventories while the web process answers heartbeats; what a
    store leaves in reference cycles piles up until a collection stops the process (100-175 ms each, seen
    every few seconds at 15,000 agents)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        assert apply_inventory(device_id=tenant_a.device.pk, content_hash="9" * 64, data=INVENTORY)
        gc.collect()
        cycles = [type(found).__name__ for found in gc.garbage if isinstance(found, Device | DeviceInventory)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert cycles == []


def test_garbage_inventory_is_stored_as_far_as_it_makes_sense(tenant_a):
    data = {"system": "nope", "cpu": {"cores": "eight"}, "software": [None, 3, {"name": ""}, {"name": "ok"}],
            "disks": "all of them"}
    assert apply_inventory(device_id=tenant_a.device.pk, content_hash="c" * 64, data=data)
    inventory = DeviceInventory.objects.get(device=tenant_a.device)
    assert inventory.cpu_cores is None and inventory.disks == []
    assert list(InstalledSoftware.objects.filter(device=tenant_a.device).values_list("name", flat=True)) == ["ok"]


def test_names_with_tabs_newlines_backslashes_and_quotes_are_stored_as_sent(tenant_a):
    """Rows go in with COPY on PostgreSQL: characters its text format escapes come back unchanged."""
    awkward = ["tab\there", "new\nline", "back\\slash \\N", "quote ' \" ; --", "nul-free ünïcödé ✓", "\\."]
    data = {"software": [{"name": name, "version": name, "source": "dpkg"} for name in awkward],
            "services": [{"name": name, "status": "running"} for name in awkward]}
    assert apply_inventory(device_id=tenant_a.device.pk, content_hash="e" * 64, data=data)
    stored = dict(InstalledSoftware.objects.filter(device=tenant_a.device).values_list("name", "version"))
    assert stored == {name: name for name in awkward}
    assert set(DeviceService.objects.filter(device=tenant_a.device).values_list("name", flat=True)) == set(awkward)
    data["software"] = data["software"][1:]  # one removed: its history row holds the awkward name
    assert apply_inventory(device_id=tenant_a.device.pk, content_hash="f" * 64, data=data)
    assert list(InventoryChange.objects.filter(device=tenant_a.device, change="removed")
                .values_list("name", "before")) == [(awkward[0], awkward[0])]


def test_connection_state_follows_the_newest_connection(tenant_a, published):
    device = tenant_a.device
    mark_agent_connected(device_id=device.pk, connection_id="first", agent_version="0.1.0")
    mark_agent_connected(device_id=device.pk, connection_id="second")
    assert not mark_agent_disconnected(device_id=device.pk, connection_id="first")  # a stale close
    assert Device.objects.get(pk=device.pk).status == "online"
    assert mark_agent_disconnected(device_id=device.pk, connection_id="second")
    assert Device.objects.get(pk=device.pk).status == "offline"
    events = [m["status"] for m in published if m["event"] == "device.status_changed"]
    assert events == ["offline"]  # the factory made it online already; only the change is published


def test_sweep_marks_silent_agents_offline(tenant_a):
    quiet = factories.DeviceFactory(site=tenant_a.site, last_seen=timezone.now() - timedelta(minutes=5))
    chatty = factories.DeviceFactory(site=tenant_a.site, last_seen=timezone.now())
    for device in (quiet, chatty):
        issue_agent_token(device=device)
    # Online by a connector's word: no agent of ours, so no heartbeat to miss.
    imported = factories.DeviceFactory(site=tenant_a.site, last_seen=None)
    assert sweep_silent_agents() == 1
    assert Device.objects.get(pk=quiet.pk).status == "offline"
    assert Device.objects.get(pk=chatty.pk).status == "online"
    assert Device.objects.get(pk=imported.pk).status == "online"


def test_metric_history_is_pruned_after_retention(tenant_a, settings):
    settings.FLEETWATCH_METRICS_RETENTION_DAYS = 7
    MetricSample.objects.create(device=tenant_a.device, at=timezone.now() - timedelta(days=8), cpu_percent=1)
    MetricSample.objects.create(device=tenant_a.device, at=timezone.now(), cpu_percent=1)
    assert prune_metric_history() == 1
    assert MetricSample.objects.count() == 1


def test_inventory_fills_the_searchable_serial_and_addresses(tenant_a):
    data = {**INVENTORY, "system": {**INVENTORY["system"], "serial_number": "CZC1234XYZ"},
            "interfaces": [{"name": "lo", "ipv4": ["127.0.0.1"], "ipv6": ["::1"]},
                           {"name": "eth0", "ipv4": ["10.0.0.5", "10.0.0.5"], "ipv6": ["fe80::1"]},
                           {"name": "wg0", "ipv4": [7, None, "172.16.4.2"]}, "not an interface"]}
    assert apply_inventory(device_id=tenant_a.device.pk, content_hash="d" * 64, data=data)
    device = Device.objects.get(pk=tenant_a.device.pk)
    assert device.serial_number == "CZC1234XYZ"
    assert device.ip_addresses == "10.0.0.5 fe80::1 172.16.4.2"  # loopback and junk left out, no repeats


def test_a_batch_the_database_refuses_is_written_with_the_next(tenant_a, monkeypatch):
    from django.db import OperationalError

    from portal.inventory import telemetry

    device = tenant_a.device
    buffer = HeartbeatBuffer()
    buffer.add(heartbeat_from(device.pk, {"cpu_percent": 10}))
    write = telemetry.record_heartbeats

    def refused(batch):
        raise OperationalError("deadlock detected")  # what a clash with another writer looks like

    monkeypatch.setattr(telemetry, "record_heartbeats", refused)
    with pytest.raises(OperationalError):
        buffer.flush()
    assert len(buffer) == 1  # kept, not dropped
    monkeypatch.setattr(telemetry, "record_heartbeats", write)
    buffer.add(heartbeat_from(device.pk, {"cpu_percent": 20}))
    assert buffer.flush() == 1
    assert list(MetricSample.objects.filter(device=device).order_by("id").values_list("cpu_percent", flat=True)) \
        == [10, 20]
    assert Device.objects.get(pk=device.pk).cpu_percent == 20  # the newest state wins


def test_a_long_outage_keeps_the_newest_heartbeats(tenant_a, monkeypatch):
    from portal.inventory import telemetry

    monkeypatch.setattr(telemetry, "MAX_BUFFERED_HEARTBEATS", 3)
    monkeypatch.setattr(telemetry, "record_heartbeats", lambda batch: 1 / 0)
    buffer = HeartbeatBuffer()
    for cpu in range(5):
        buffer.add(heartbeat_from(tenant_a.device.pk, {"cpu_percent": cpu}))
    with pytest.raises(ZeroDivisionError):
        buffer.flush()
    assert [heartbeat.cpu_percent for heartbeat in buffer._pending] == [2, 3, 4]
