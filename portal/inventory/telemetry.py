"""What agents report: connection state, heartbeats (coalesced, written in batches) and inventory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from portal.events.groups import agent_group, device_watch_group
from portal.events.publish import batched_publishing, publish, publish_to_group
from portal.events.watching import watched_among
from portal.inventory.models import (
    AgentCredential,
    Device,
    DeviceInventory,
    DeviceService,
    DeviceStatus,
    InstalledSoftware,
    InventoryChange,
    MetricSample,
    OutcomeState,
    PatchOutcome,
    PendingPatch,
)
from portal.inventory.updates import ReportedUpdate, catalogue_ids, reported_update

MAX_ITEMS = 5_000  # items of one kind in one inventory (the protocol refuses more: INVENTORY_LIMITS)
MAX_CHANGES_PER_INVENTORY = 2_000  # history rows one inventory may write
# Heartbeats kept while the database refuses a batch: ten minutes of 5,000 agents at a 30 s interval.
MAX_BUFFERED_HEARTBEATS = 100_000


@dataclass(frozen=True)
class Heartbeat:
    device_id: int
    at: datetime
    cpu_percent: float | None
    memory_percent: float | None


def _percent(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0.0, min(100.0, float(value)))


def heartbeat_from(device_id: int, metrics: dict[str, Any]) -> Heartbeat:
    """A heartbeat from an agent's metrics (values that are not numbers are dropped, not trusted)."""
    return Heartbeat(device_id=device_id, at=timezone.now(), cpu_percent=_percent(metrics.get("cpu_percent")),
                     memory_percent=_percent(metrics.get("memory_percent")))


@transaction.atomic
def record_heartbeats(heartbeats: list[Heartbeat]) -> int:
    """Write a batch of heartbeats: one UPDATE statement for the devices' latest state, one INSERT for the
    history. A heartbeat never touches inventory. Devices deleted meanwhile are skipped.

    Plain ``executemany`` on purpose: this runs every second beside thousands of sockets, and the ORM's
    ``bulk_update`` spent so long building CASE expressions (holding the GIL) that heartbeat acks on
    the same process waited seconds.
    """
    if not heartbeats:
        return 0
    latest: dict[int, Heartbeat] = {}
    # Rows are updated in id order, as every other multi-row writer does: two processes flushing
    # overlapping batches (an agent that moved to another server) wait for each other, never deadlock.
    for heartbeat in sorted(heartbeats, key=lambda heartbeat: heartbeat.device_id):
        latest[heartbeat.device_id] = heartbeat
    existing = set(Device.objects.filter(pk__in=latest).values_list("pk", flat=True))
    if not existing:
        return 0
    adapt = connection.ops.adapt_datetimefield_value
    device_table = connection.ops.quote_name(Device._meta.db_table)
    sample_table = connection.ops.quote_name(MetricSample._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            # Table names come from the models, quoted; every value is a bound parameter.
            f"UPDATE {device_table} SET last_seen = %s, cpu_percent = %s, memory_percent = %s WHERE id = %s",  # noqa: S608
            [(adapt(hb.at), hb.cpu_percent, hb.memory_percent, pk) for pk, hb in latest.items() if pk in existing])
        cursor.executemany(
            f"INSERT INTO {sample_table} (device_id, at, cpu_percent, memory_percent) VALUES (%s, %s, %s, %s)",  # noqa: S608
            [(hb.device_id, adapt(hb.at), hb.cpu_percent, hb.memory_percent)
             for hb in heartbeats if hb.device_id in existing])
    for device_id in watched_among(existing):
        publish_to_group(device_watch_group(device_id),
                         {"type": "fleet.event", "event": "device.metrics", "id": device_id})
    return len(existing)


@dataclass(frozen=True)
class UpdateScan:
    """An agent's report of its last look for updates: when, whether it worked, whether a restart is pending."""

    device_id: int
    scanned_at: datetime
    error: str
    reboot_required: bool | None


def record_update_scans(scans: list[UpdateScan]) -> None:
    """Store the scan reports (one UPDATE statement): a successful scan moves "last scanned", a failed one keeps
    it and says why; a pending restart keeps the time it was first reported."""
    if not scans:
        return
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(Device._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET updates_scanned_at = CASE WHEN %s = '' THEN %s ELSE updates_scanned_at END, "  # noqa: S608
            "updates_scan_error = %s, reboot_pending_since = CASE WHEN %s IS NULL THEN reboot_pending_since "
            "WHEN %s THEN COALESCE(reboot_pending_since, %s) ELSE NULL END WHERE id = %s",
            [(scan.error, adapt(scan.scanned_at), scan.error, scan.reboot_required, bool(scan.reboot_required),
              adapt(scan.scanned_at), scan.device_id) for scan in sorted(scans, key=lambda scan: scan.device_id)])


class HeartbeatBuffer:
    """Collects heartbeats (and update-scan reports) in memory so a server process writes about once a second,
    not per frame."""

    def __init__(self) -> None:
        self._pending: list[Heartbeat] = []
        self._used_credentials: set[int] = set()
        self._scans: dict[int, UpdateScan] = {}
        self._lock = threading.Lock()

    def add(self, heartbeat: Heartbeat) -> None:
        with self._lock:
            self._pending.append(heartbeat)

    def add_scan(self, scan: UpdateScan) -> None:
        with self._lock:
            self._scans[scan.device_id] = scan

    def touch_credential(self, credential_id: int) -> None:
        """An agent token was used: its last use is written with the next batch."""
        with self._lock:
            self._used_credentials.add(credential_id)

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
            used, self._used_credentials = self._used_credentials, set()
            scans, self._scans = self._scans, {}
        try:
            with transaction.atomic():
                if used:
                    AgentCredential.objects.filter(pk__in=sorted(used)).update(last_used_at=timezone.now())
                record_update_scans(list(scans.values()))
                return record_heartbeats(pending)
        except Exception:
            with self._lock:
                # Back in front of what arrived meanwhile, for the next flush (the newest, if the
                # database stays away long enough to fill the buffer).
                self._pending = (pending + self._pending)[-MAX_BUFFERED_HEARTBEATS:]
                self._used_credentials |= used
                self._scans = scans | self._scans
            raise

    def __len__(self) -> int:
        return len(self._pending) + len(self._used_credentials) + len(self._scans)


HEARTBEATS = HeartbeatBuffer()


@dataclass(frozen=True)
class AgentHello:
    device_id: int
    connection_id: str
    agent_version: str = ""
    channel: str = ""  # the socket's channel-layer channel (remote sessions reach the agent through it)


def mark_agent_connected(*, device_id: int, connection_id: str, agent_version: str = "") -> str | None:
    """The agent said hello: the device is online, held by this connection. Returns the hash of the
    inventory stored for it, so the agent can skip sending an unchanged one."""
    greeted = mark_agents_connected(hellos=[AgentHello(device_id, connection_id, agent_version)])
    if device_id not in greeted:
        raise Device.DoesNotExist(f"device {device_id} is gone")
    return greeted[device_id]


def mark_agents_connected(*, hellos: list[AgentHello]) -> dict[int, str | None]:
    """``mark_agent_connected`` for many hellos in one transaction (a server process's hellos of the last
    moment: a reconnect storm is thousands a second, and SQLite takes one writer at a time). Returns the
    stored inventory hash of each device that still exists; a device named twice is held by its last hello."""
    device_ids = sorted({hello.device_id for hello in hellos})  # locked in id order, as the heartbeat writer
    stored_now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), batched_publishing():
        devices = {device.pk: device for device in Device.objects.select_for_update().filter(
            pk__in=device_ids).only("pk", "status", "company_id", "agent_connection").order_by("pk")}
        held: dict[int, tuple[Any, ...]] = {}
        for hello in hellos:
            device = devices.get(hello.device_id)
            if device is None:
                continue
            held[device.pk] = (DeviceStatus.ONLINE.value, hello.connection_id, hello.channel[:200], stored_now,
                               (hello.agent_version or "")[:32] or None, device.pk)
            if device.agent_connection and device.agent_connection != hello.connection_id:
                # One socket per device: whichever process holds the older one closes it. A device no
                # connection holds (its socket closed cleanly) has none to close, so a fleet's reconnect
                # after a restart sends nothing here.
                publish_to_group(agent_group(device.pk), {"type": "agent.replaced",
                                                          "connection_id": hello.connection_id})
            device.agent_connection = hello.connection_id  # a second hello of the same batch replaces this one
            if device.status != DeviceStatus.ONLINE:
                device.status = DeviceStatus.ONLINE
                publish("device.status_changed", company_id=device.company_id, id=device.pk, status="online")
        with connection.cursor() as cursor:
            # One statement for the batch (a pipeline on PostgreSQL), not an ORM update per hello: this runs
            # on a thread beside thousands of sockets, and compiling 500 updates held their interpreter lock.
            cursor.executemany(
                f"UPDATE {connection.ops.quote_name(Device._meta.db_table)} SET status = %s, "  # noqa: S608 (model metadata)
                "agent_connection = %s, agent_channel = %s, last_seen = %s, "
                "agent_version = COALESCE(%s, agent_version) WHERE id = %s", [held[pk] for pk in sorted(held)])
    hashes = dict(DeviceInventory.objects.filter(device_id__in=list(devices)).values_list("device_id", "content_hash"))
    return {device_id: hashes.get(device_id) for device_id in devices}


def release_devices_held_through(*, channel_prefix: str) -> int:
    """A server process is ending: the devices its sockets held are held by no connection. They stay online
    until their agents come back or miss their heartbeats; their next hello then has no older socket to
    close, so a fleet reconnecting after a restart announces nothing. Returns how many were released."""
    if not channel_prefix.startswith("specific.") or not channel_prefix.endswith("!"):
        raise ValueError("a process's channel prefix looks like 'specific.<process>!'")
    return Device.objects.filter(agent_channel__startswith=channel_prefix).exclude(agent_connection="").update(
        agent_connection="", agent_channel="")


def stored_inventory_hash(*, device_id: int) -> str | None:
    """The hash of the inventory stored for a device (the agent skips sending an unchanged one)."""
    return DeviceInventory.objects.filter(device_id=device_id).values_list("content_hash", flat=True).first()


def agent_connection_of(*, device_id: int) -> str | None:
    """The connection that holds the device now (None when the device is gone)."""
    return Device.objects.filter(pk=device_id).values_list("agent_connection", flat=True).first()


def mark_agent_disconnected(*, device_id: int, connection_id: str) -> bool:
    """The agent's socket closed: offline at once, unless a newer connection already holds the device."""
    with transaction.atomic():
        changed = Device.objects.filter(pk=device_id, agent_connection=connection_id).exclude(
            status=DeviceStatus.OFFLINE).update(status=DeviceStatus.OFFLINE, agent_connection="", agent_channel="")
        if changed:
            company_id = Device.objects.filter(pk=device_id).values_list("company_id", flat=True).first()
            publish("device.status_changed", company_id=company_id, id=device_id, status="offline")
    return bool(changed)


def sweep_silent_agents(*, now: datetime | None = None) -> int:
    """Mark offline the online devices whose agents missed several heartbeats (a periodic task).

    Only devices with an agent of ours: a device imported from Pulseway or Datto RMM sends us no
    heartbeats, and its online state is the vendor's, written by each sync."""
    now = now or timezone.now()
    missed = settings.FLEETWATCH_OFFLINE_AFTER_MISSED
    silent = []
    with_agent = Exists(AgentCredential.objects.filter(device=OuterRef("pk")))
    for device in Device.objects.filter(with_agent, status=DeviceStatus.ONLINE).only(
            "pk", "company_id", "last_seen", "heartbeat_interval"):
        if device.last_seen is None or device.last_seen < now - timedelta(seconds=device.heartbeat_interval * missed):
            silent.append(device)
    with transaction.atomic():
        for device in sorted(silent, key=lambda device: device.pk):  # id order, as the heartbeat writer
            if Device.objects.filter(pk=device.pk, status=DeviceStatus.ONLINE).update(
                    status=DeviceStatus.OFFLINE, agent_connection=""):
                publish("device.status_changed", company_id=device.company_id, id=device.pk, status="offline")
    return len(silent)


def _bounded(changes: list[InventoryChange], *, device: Device, at: datetime) -> list[InventoryChange]:
    """At most MAX_CHANGES_PER_INVENTORY rows of history per inventory: the rest is one row saying how many."""
    if len(changes) <= MAX_CHANGES_PER_INVENTORY:
        return changes
    kept, left_out = changes[:MAX_CHANGES_PER_INVENTORY - 1], len(changes) - MAX_CHANGES_PER_INVENTORY + 1
    return [*kept, InventoryChange(device=device, at=at, kind=changes[-1].kind, change="more",
                                   name=f"{left_out:,} more changes in this inventory, not listed one by one")]


def prune_inventory_history(*, now: datetime | None = None) -> int:
    """Delete inventory history older than FLEETWATCH_INVENTORY_HISTORY_DAYS (a daily task)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.FLEETWATCH_INVENTORY_HISTORY_DAYS)
    deleted, _ = InventoryChange.objects.filter(at__lt=cutoff).delete()
    return deleted


def prune_metric_history(*, now: datetime | None = None) -> int:
    """Delete metric samples older than the retention setting (a daily task)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.FLEETWATCH_METRICS_RETENTION_DAYS)
    deleted, _ = MetricSample.objects.filter(at__lt=cutoff).delete()
    return deleted


# --- inventory ------------------------------------------------------------------------------------

def _text(value: Any, limit: int = 255) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value[:MAX_ITEMS] if isinstance(item, dict)]


def _json_list(data: dict[str, Any], key: str, limit: int = 500) -> list[Any]:
    value = data.get(key)
    return value[:limit] if isinstance(value, list) else []


def _insert_rows(model: type, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert plain rows: with one ``executemany`` (SQLite), or one ``COPY`` (PostgreSQL).

    A first inventory is ~1,000 rows; building a model instance per row and letting bulk_create compile
    them cost ~100 ms per inventory, which a fleet's first connect multiplies by thousands. On PostgreSQL
    even 1,000 single-row INSERTs in one pipeline took ~45 ms of an inventory's ~130 ms, with the server
    parsing and planning each; ``COPY`` streams the rows as one statement."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(column).column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # model metadata only
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)  # noqa: S608 (model metadata)


CHANGE_COLUMNS = ("device", "at", "kind", "change", "name", "before", "after")
CHANGE_ATTRIBUTES = ("device_id", "at", "kind", "change", "name", "before", "after")

Plan = tuple[list[InventoryChange], Callable[[], None]]
"""What an inventory changes (history rows) and the writes that store it, run later inside the lock."""


def _plan_software(device: Device, data: dict[str, Any], at: datetime, *, baseline: bool) -> Plan:
    reported: dict[tuple[str, str], str] = {}
    for item in _items(data, "software"):
        name = _text(item.get("name"))
        if name:
            reported[(name, _text(item.get("source"), 32))] = _text(item.get("version"), 128)
    current = {(name, source): (pk, version) for pk, name, source, version in
               InstalledSoftware.objects.filter(device_id=device.pk).values_list("pk", "name", "source", "version")}
    changes: list[InventoryChange] = []
    new_rows, updated_rows = [], []
    for key, version in reported.items():
        row = current.get(key)
        if row is None:
            new_rows.append((device.pk, key[0], key[1], version))
            if not baseline:  # the first inventory is a baseline, not a stream of "installs"
                changes.append(InventoryChange(device=device, at=at, kind="software", change="installed",
                                               name=key[0], after=version))
        elif row[1] != version:
            changes.append(InventoryChange(device=device, at=at, kind="software", change="updated", name=key[0],
                                           before=row[1], after=version))
            updated_rows.append(InstalledSoftware(pk=row[0], version=version))
    gone = [(key, row) for key, row in current.items() if key not in reported]
    changes += [InventoryChange(device=device, at=at, kind="software", change="removed", name=key[0],
                                before=version) for key, (_, version) in gone]

    def write() -> None:
        _insert_rows(InstalledSoftware, ("device", "name", "source", "version"), new_rows)
        InstalledSoftware.objects.bulk_update(updated_rows, ["version"], batch_size=1000)
        InstalledSoftware.objects.filter(pk__in=[pk for _, (pk, _) in gone]).delete()

    return changes, write


def _plan_services(device: Device, data: dict[str, Any], at: datetime) -> Plan:
    reported = {}
    for item in _items(data, "services"):
        name = _text(item.get("name"))
        if name:
            reported[name] = (_text(item.get("display_name")), _text(item.get("status"), 32),
                              _text(item.get("start_mode"), 32))
    current = {row.name: row for row in DeviceService.objects.filter(device_id=device.pk)}
    changes: list[InventoryChange] = []
    new_rows, updated_rows = [], []
    for name, (display_name, status, start_mode) in reported.items():
        row = current.get(name)
        if row is None:
            new_rows.append((device.pk, name, display_name, status, start_mode))
            if current:  # the first inventory is a baseline, not a stream of "added" events
                changes.append(InventoryChange(device=device, at=at, kind="service", change="added", name=name,
                                               after=status))
        elif (row.status, row.display_name, row.start_mode) != (status, display_name, start_mode):
            if row.status != status:
                verb = "started" if status == "running" else "stopped" if row.status == "running" else "changed"
                changes.append(InventoryChange(device=device, at=at, kind="service", change=verb, name=name,
                                               before=row.status, after=status))
            row.status, row.display_name, row.start_mode = status, display_name, start_mode
            updated_rows.append(row)
    gone = [row for name, row in current.items() if name not in reported]
    changes += [InventoryChange(device=device, at=at, kind="service", change="removed", name=row.name,
                                before=row.status) for row in gone]

    def write() -> None:
        _insert_rows(DeviceService, ("device", "name", "display_name", "status", "start_mode"), new_rows)
        DeviceService.objects.bulk_update(updated_rows, ["status", "display_name", "start_mode"], batch_size=1000)
        DeviceService.objects.filter(pk__in=[row.pk for row in gone]).delete()

    return changes, write


def _plan_patches(device: Device, data: dict[str, Any], at: datetime) -> Plan:
    """New and cleared updates of the device. A cleared one was installed (or is no longer offered), unless a
    newer version of the same update is offered now: then it was superseded."""
    reported: dict[tuple[str, str, str], ReportedUpdate] = {}
    for item in _items(data, "pending_updates"):
        update = reported_update(item)
        if update is not None:
            reported[update.key] = update
    current = {(source, identifier, version): (pk, update_id) for pk, update_id, source, identifier, version in
               PendingPatch.objects.filter(device_id=device.pk).values_list(
                   "pk", "update_id", "update__source", "update__identifier", "update__version")}
    new = [update for key, update in reported.items() if key not in current]
    gone = {key: row for key, row in current.items() if key not in reported}
    still_offered = {(source, identifier) for source, identifier, _ in reported}
    changes = [InventoryChange(device=device, at=at, kind="patch", change="available", name=update.identifier,
                               after=update.title[:255]) for update in new]
    changes += [InventoryChange(device=device, at=at, kind="patch", change="cleared", name=key[1], before=key[2])
                for key in gone]

    def write() -> None:
        ids = catalogue_ids(new)
        _insert_rows(PendingPatch, ("device", "update", "from_version", "first_seen_at"),
                     [(device.pk, ids[update.key], update.from_version, at) for update in new if update.key in ids])
        PendingPatch.objects.filter(pk__in=[pk for pk, _ in gone.values()]).delete()
        record_cleared(device_id=device.pk, at=at, cleared={
            update_id: OutcomeState.SUPERSEDED if key[:2] in still_offered else OutcomeState.INSTALLED
            for key, (_, update_id) in gone.items()})

    return changes, write


def record_cleared(*, device_id: int, at: datetime, cleared: dict[int, str]) -> None:
    """Updates the device's scan no longer offers: installed (kept as it was when an install said so already)
    or superseded."""
    if not cleared:
        return
    existing = {outcome.update_id: outcome for outcome in
                PatchOutcome.objects.filter(device_id=device_id, update_id__in=list(cleared))}
    changed, created = [], []
    for update_id, state in cleared.items():
        outcome = existing.get(update_id)
        if outcome is None:
            created.append(PatchOutcome(device_id=device_id, update_id=update_id, state=state, at=at,
                                        detail="No longer offered by the device's scan."))
        elif outcome.state != OutcomeState.INSTALLED:
            outcome.detail = f"No longer offered by the device's scan (the last install {outcome.state})."[:2000]
            outcome.state, outcome.at = state, at
            changed.append(outcome)
    PatchOutcome.objects.bulk_create(created, batch_size=500)
    PatchOutcome.objects.bulk_update(changed, ["state", "at", "detail"], batch_size=500)


def searchable_addresses(interfaces: list[Any]) -> str:
    """The reported IPv4 and IPv6 addresses, loopback left out, space-separated within the column's size."""
    addresses: list[str] = []
    for interface in interfaces:
        if not isinstance(interface, dict):
            continue
        for family in ("ipv4", "ipv6"):
            values = interface.get(family)
            for address in values if isinstance(values, list) else []:
                if isinstance(address, str) and address and not address.startswith(("127.", "::1")):
                    addresses.append(address[:64])
    return join_addresses(addresses)


def join_addresses(addresses: list[str]) -> str:
    joined = ""
    for address in dict.fromkeys(addresses):
        if len(joined) + len(address) + 1 > 1000:
            break
        joined = f"{joined} {address}".strip()
    return joined


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10**11:
        return datetime.fromtimestamp(value, tz=timezone.get_current_timezone())
    return None


def _stored_hash(device_id: int) -> str | None:
    return DeviceInventory.objects.filter(device_id=device_id).values_list("content_hash", flat=True).first()


def apply_inventory(*, device_id: int, content_hash: str, data: dict[str, Any]) -> bool:
    """Store a full inventory and the history of what changed; False when the hash is unchanged.

    The comparison with what is stored (the CPU-heavy part: ~1,000 packages) runs before the write
    transaction, so the database's write lock (SQLite has one for the whole file) is held only for the
    writes themselves; inside, the device row is locked and, if another process stored an inventory
    meanwhile, the comparison is made again."""
    device = Device.objects.only("pk", "company_id").get(pk=device_id)
    stored = _stored_hash(device_id)
    if stored == content_hash:
        return False
    now = timezone.now()
    plans = _plan_inventory(device, data, now, baseline=stored is None)
    with transaction.atomic():
        if not Device.objects.select_for_update().filter(pk=device_id).exists():
            raise Device.DoesNotExist(f"device {device_id} was deleted")
        latest = _stored_hash(device_id)
        if latest == content_hash:
            return False
        if latest != stored:
            plans = _plan_inventory(device, data, now, baseline=latest is None)
        changes = _write_inventory(device, data, content_hash, now, plans)
        publish("device.inventory_changed", company_id=device.company_id, id=device_id, changes=len(changes))
    return True


def _plan_inventory(device: Device, data: dict[str, Any], at: datetime, *, baseline: bool) -> list[Plan]:
    return [_plan_software(device, data, at, baseline=baseline), _plan_services(device, data, at),
            _plan_patches(device, data, at)]


def _write_inventory(device: Device, data: dict[str, Any], content_hash: str, at: datetime,
                     plans: list[Plan]) -> list[InventoryChange]:
    system = data.get("system") if isinstance(data.get("system"), dict) else {}
    cpu = data.get("cpu") if isinstance(data.get("cpu"), dict) else {}
    memory = data.get("memory") if isinstance(data.get("memory"), dict) else {}
    cores = cpu.get("cores")
    total = memory.get("total")
    fields = {
        "content_hash": content_hash[:64], "collected_at": at, "kernel": _text(system.get("kernel")),
        "cpu_model": _text(cpu.get("model")),
        "cpu_cores": cores if isinstance(cores, int) and not isinstance(cores, bool) and 0 < cores < 100_000 else None,
        "memory_total": total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None,
        "boot_time": _parse_time(system.get("boot_time")),
        "disks": _json_list(data, "disks"), "interfaces": _json_list(data, "interfaces"),
        "users": _json_list(data, "users"),
    }
    # By id: an inventory made with its device object points at it and the device back at it (a one-to-one
    # caches both sides), a cycle only the garbage collector frees, with every row this write planned.
    DeviceInventory.objects.update_or_create(device_id=device.pk, defaults=fields)
    changes: list[InventoryChange] = []
    for kind_changes, write in plans:
        write()
        changes += kind_changes
    _insert_rows(InventoryChange, CHANGE_COLUMNS, [tuple(getattr(change, column) for column in CHANGE_ATTRIBUTES)
                                                   for change in _bounded(changes, device=device, at=at)])
    os_version = _text(system.get("os_version"))
    hostname = _text(system.get("hostname"))
    serial_number = _text(system.get("serial_number"), 100)
    updates = {name: value for name, value in (("os_version", os_version), ("hostname", hostname),
                                               ("serial_number", serial_number)) if value}
    updates["ip_addresses"] = searchable_addresses(fields["interfaces"])
    Device.objects.filter(pk=device.pk).update(**updates)
    return changes
