"""The SNMP poller on pysnmp 7's asyncio API: system group, interfaces (ifTable + ifXTable, 64-bit
counters where present), CPU (hrProcessorLoad) and storage (hrStorage), with a response time.

Nothing here touches the database: ``poll`` turns a target into a ``PollResult``; ``poll_many`` runs
many polls concurrently with a bound. A timeout, a wrong community or an unreachable host comes back
as a status with a message, never as an exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pysnmp.hlapi.v1arch.asyncio as v1arch
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    usmAesCfb128Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto.rfc1902 import Null, ObjectName

SYSTEM = {"descr": "1.3.6.1.2.1.1.1.0", "object_id": "1.3.6.1.2.1.1.2.0", "uptime": "1.3.6.1.2.1.1.3.0",
          "contact": "1.3.6.1.2.1.1.4.0", "name": "1.3.6.1.2.1.1.5.0", "location": "1.3.6.1.2.1.1.6.0",
          "if_number": "1.3.6.1.2.1.2.1.0"}
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"
HR_PROCESSOR_LOAD = "1.3.6.1.2.1.25.3.3.1.2"
HR_STORAGE_ENTRY = "1.3.6.1.2.1.25.2.3.1"
NO_SUCH_NAME = 2  # SNMPv1's error status for "nothing there"
IF_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
AUTH = {"": usmNoAuthProtocol, "md5": usmHMACMD5AuthProtocol, "sha": usmHMACSHAAuthProtocol,
        "sha256": usmHMAC192SHA256AuthProtocol, "sha512": usmHMAC384SHA512AuthProtocol}
PRIV = {"": usmNoPrivProtocol, "des": usmDESPrivProtocol, "aes": usmAesCfb128Protocol, "aes256": usmAesCfb256Protocol}


@dataclass(frozen=True)
class SnmpTarget:
    host: str
    port: int = 161
    version: str = "2c"
    community: str = ""
    v3_user: str = ""
    auth_protocol: str = ""
    auth_key: str = ""
    priv_protocol: str = ""
    priv_key: str = ""
    context_name: str = ""  # SNMPv3 context (most devices use the empty default)
    timeout: float = 2.0
    retries: int = 1


@dataclass
class InterfaceReading:
    if_index: int
    name: str = ""
    alias: str = ""
    if_type: int | None = None
    speed_bps: int | None = None
    admin_status: str = ""
    oper_status: str = ""
    in_octets: int | None = None
    out_octets: int | None = None
    counter_bits: int = 32


@dataclass
class PollResult:
    status: str  # up, timeout, unreachable, error (monitoring.models.PollStatus)
    detail: str = ""
    response_ms: float | None = None
    system: dict[str, Any] = field(default_factory=dict)
    interfaces: list[InterfaceReading] = field(default_factory=list)
    cpu_percent: float | None = None
    storage: list[dict[str, Any]] = field(default_factory=list)
    monotonic_at: float = field(default_factory=time.monotonic)


@cache
def _object_type(oid: str) -> ObjectType:
    """One shared request object per OID. pysnmp resolves every request object against its MIB view
    (about 1 ms each); a resolved one is reused as it is, so the fixed OIDs are resolved once."""
    return ObjectType(ObjectIdentity(oid))


def _varbind(oid: str) -> tuple[ObjectName, Null]:
    return ObjectName(oid), Null("")


@dataclass
class _Peer:
    """How to ask one device. v1/v2c go through pysnmp's light dispatcher (a community in each message,
    nothing configured per target); v3 needs an engine, whose configuration step per request (the
    target's rows in its SNMP-TARGET/COMMUNITY tables) cost as much CPU as decoding the answer."""

    target: SnmpTarget
    v1_transport: Any = None
    v3_transport: Any = None
    dispatcher: v1arch.SnmpDispatcher | None = None
    engine: SnmpEngine | None = None

    @classmethod
    async def open(cls, target: SnmpTarget, *, dispatcher: v1arch.SnmpDispatcher | None,
                   engine: SnmpEngine | None) -> _Peer:
        address, options = (target.host, target.port), {"timeout": target.timeout, "retries": target.retries}
        if engine is not None:
            return cls(target, v3_transport=await UdpTransportTarget.create(address, **options), engine=engine)
        return cls(target, v1_transport=await v1arch.UdpTransportTarget.create(address, **options),
                   dispatcher=dispatcher)

    @property
    def _community(self) -> v1arch.CommunityData:
        return v1arch.CommunityData(self.target.community, mpModel=0 if self.target.version == "1" else 1)

    @property
    def _usm(self) -> UsmUserData:
        target = self.target
        return UsmUserData(target.v3_user, authKey=target.auth_key or None, privKey=target.priv_key or None,
                           authProtocol=AUTH[target.auth_protocol], privProtocol=PRIV[target.priv_protocol])

    @property
    def _context(self) -> ContextData:
        return ContextData(contextName=self.target.context_name) if self.target.context_name else ContextData()

    async def get(self, oids: list[str]) -> tuple[Any, Any, Any, Any]:
        """(error indication, error status, error index, var binds); numeric OIDs only, never resolved
        through MIBs (that costs more CPU than the poll itself)."""
        if self.engine is not None:
            answer = await get_cmd(
                self.engine, self._usm, self.v3_transport, self._context, *(_object_type(oid) for oid in oids),
                lookupMib=False)
        else:
            answer = await v1arch.get_cmd(
                self.dispatcher, self._community, self.v1_transport, *(_varbind(oid) for oid in oids),
                lookupMib=False)
        return answer

    async def next(self, oids: list[str], *, repetitions: int) -> tuple[Any, Any, Any, Any]:
        """GETBULK of ``repetitions`` rows after each OID (v2c, v3), or GETNEXT of one row (v1)."""
        if self.engine is not None:
            answer = await bulk_cmd(
                self.engine, self._usm, self.v3_transport, self._context, 0, repetitions,
                *(_object_type(oid) if oid in TABLE_COLUMNS else ObjectType(ObjectIdentity(oid)) for oid in oids),
                lookupMib=False)
        elif self.target.version == "1":
            answer = await v1arch.next_cmd(
                self.dispatcher, self._community, self.v1_transport, *(_varbind(oid) for oid in oids),
                lookupMib=False)
        else:
            answer = await v1arch.bulk_cmd(
                self.dispatcher, self._community, self.v1_transport, 0, repetitions,
                *(_varbind(oid) for oid in oids), lookupMib=False)
        return answer


def _text(value: Any) -> str:
    return value.prettyPrint() if hasattr(value, "prettyPrint") else str(value)


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None  # noSuchInstance / noSuchObject / endOfMibView


IF_COLUMNS = [f"{IF_ENTRY}.{column}" for column in (2, 3, 5, 7, 8, 10, 16)]
IFX_COLUMNS = [f"{IFX_ENTRY}.{column}" for column in (1, 6, 10, 15, 18)]
HR_COLUMNS = [HR_PROCESSOR_LOAD, *(f"{HR_STORAGE_ENTRY}.{column}" for column in (3, 4, 5, 6))]
TABLE_COLUMNS = IF_COLUMNS + IFX_COLUMNS + HR_COLUMNS
MAX_REPETITIONS = 25


class _TablesUnanswered(Exception):
    """The device answered the system group, then stopped answering while its tables were read: its
    tables must not be taken as empty (that would delete its interfaces)."""


async def _bulk_columns(peer: _Peer, columns: list[str],
                        repetitions: int) -> dict[str, list[tuple[tuple[int, ...], Any]]]:
    """Only the listed table columns, side by side in GETBULK requests (GETNEXT in v1): (index suffix,
    value) per column.

    Walking whole table entries reads every column (ifTable has 22); asking for the dozen the poller
    uses decodes a third of the values, which is where an SNMP poller spends its CPU. ``repetitions``
    follows the interface count, so a small device is not sent rows past its tables' ends."""
    prefixes = {column: tuple(int(part) for part in column.split(".")) for column in columns}
    rows: dict[str, list[tuple[tuple[int, ...], Any]]] = {column: [] for column in columns}
    cursor = {column: column for column in columns}
    active = list(columns)
    for _ in range(25_000):  # a bound: more requests than any device's tables need
        if not active:
            break
        error_indication, error_status, error_index, var_binds = await peer.next(
            [cursor[column] for column in active], repetitions=repetitions)
        if (not error_indication and peer.target.version == "1" and int(error_status or 0) == NO_SUCH_NAME
                and 1 <= int(error_index or 0) <= len(active)):
            # A v1 agent answers a GETNEXT past the end of its MIB with noSuchName for the whole request,
            # naming the one column that ran out: close that column and ask again for the others.
            del active[int(error_index) - 1]
            continue
        if error_indication:
            raise _TablesUnanswered(error_indication)
        if error_status or not var_binds:
            break
        still_open = []
        for position, column in enumerate(active):
            prefix, last_in_scope = prefixes[column], None
            for name, value in var_binds[position::len(active)]:
                oid = tuple(name)
                if oid[:len(prefix)] != prefix or not _is_value(value):
                    last_in_scope = None
                    break
                rows[column].append((oid[len(prefix):], value))
                last_in_scope = ".".join(str(part) for part in oid)
            if last_in_scope is not None:
                cursor[column] = last_in_scope
                still_open.append(column)
        active = still_open
    return rows


def _as_entry_rows(rows: dict[str, list], entry: str) -> list[tuple[tuple[int, ...], Any]]:
    """Column rows re-keyed as (column number, index…), the shape a walk of the table entry gives."""
    return [((int(column[len(entry) + 1:]), *suffix), value) for column, found in rows.items()
            for suffix, value in found]


def _is_value(value: Any) -> bool:
    return value.__class__.__name__ not in {"NoSuchInstance", "NoSuchObject", "EndOfMibView", "Null"}


def _interfaces(if_rows: list, ifx_rows: list) -> list[InterfaceReading]:
    readings: dict[int, InterfaceReading] = {}

    def reading(index: int) -> InterfaceReading:
        return readings.setdefault(index, InterfaceReading(if_index=index))

    for suffix, value in if_rows:
        if len(suffix) != 2:
            continue
        column, index = suffix
        row = reading(index)
        if column == 2:
            row.name = row.name or _text(value)
        elif column == 3:
            row.if_type = _number(value)
        elif column == 5:
            row.speed_bps = _number(value)
        elif column == 7:
            row.admin_status = IF_STATUS.get(_number(value) or 0, "")
        elif column == 8:
            row.oper_status = IF_STATUS.get(_number(value) or 0, "")
        elif column == 10 and row.counter_bits == 32:
            row.in_octets = _number(value)
        elif column == 16 and row.counter_bits == 32:
            row.out_octets = _number(value)
    for suffix, value in ifx_rows:
        if len(suffix) != 2:
            continue
        column, index = suffix
        row = reading(index)
        if column == 1 and _text(value):
            row.name = _text(value)
        elif column == 6:
            row.in_octets, row.counter_bits = _number(value), 64
        elif column == 10:
            row.out_octets, row.counter_bits = _number(value), 64
        elif column == 15 and _number(value):
            row.speed_bps = max(row.speed_bps or 0, (_number(value) or 0) * 1_000_000)
        elif column == 18:
            row.alias = _text(value)
    return [readings[index] for index in sorted(readings)]


def _storage(rows: list) -> list[dict[str, Any]]:
    entries: dict[int, dict[str, Any]] = {}
    for suffix, value in rows:
        if len(suffix) != 2:
            continue
        column, index = suffix
        entry = entries.setdefault(index, {"index": index})
        if column == 3:
            entry["descr"] = _text(value)
        elif column == 4:
            entry["unit"] = _number(value) or 1
        elif column == 5:
            entry["size_units"] = _number(value)
        elif column == 6:
            entry["used_units"] = _number(value)
    storage = []
    for entry in entries.values():
        unit = entry.get("unit", 1)
        if entry.get("size_units") is None:
            continue
        size, used = entry["size_units"] * unit, (entry.get("used_units") or 0) * unit
        storage.append({"descr": entry.get("descr", ""), "size_bytes": size, "used_bytes": used,
                        "used_percent": round(100 * used / size, 1) if size else None})
    return storage


def _failure(error_indication: Any, *, target: SnmpTarget, while_doing: str = "") -> PollResult:
    name = type(error_indication).__name__ if not isinstance(error_indication, str) else error_indication
    text = str(error_indication)
    if "timed out" in text.lower() or "RequestTimedOut" in name:
        total = target.timeout * (target.retries + 1)
        if while_doing:
            return PollResult(status="timeout", detail=f"The device answered, then gave no answer within {total:g} s"
                                                       f"{while_doing}; its last readings are kept.")
        return PollResult(status="timeout", detail=f"No answer within {total:g} s: wrong community or "
                                                   "credentials, SNMP off, or a firewall in between.")
    return PollResult(status="error", detail=f"{text}{while_doing}"[:300])


async def poll(peer: _Peer, *, with_tables: bool = True) -> PollResult:
    """One poll of one device; every failure is a status with a message."""
    target, started = peer.target, time.perf_counter()
    try:
        error_indication, error_status, _, var_binds = await peer.get(list(SYSTEM.values()))
    except (PySnmpError, OSError) as error:
        return PollResult(status="unreachable", detail=str(error)[:300])
    response_ms = (time.perf_counter() - started) * 1000
    if error_indication:
        return _failure(error_indication, target=target)
    if error_status:
        return PollResult(status="error", detail=f"The agent answered {error_status.prettyPrint()}.")
    values = {key: value for key, (_, value) in zip(SYSTEM, var_binds, strict=False)}
    uptime = _number(values.get("uptime"))
    object_id = values.get("object_id")
    system = {"descr": _text(values.get("descr", "")),
              "object_id": ".".join(str(part) for part in tuple(object_id)) if _is_value(object_id) else "",
              "uptime_seconds": uptime // 100 if uptime is not None else None,
              "contact": _text(values.get("contact", "")), "name": _text(values.get("name", "")),
              "location": _text(values.get("location", ""))}
    result = PollResult(status="up", response_ms=round(response_ms, 2), system=system)
    if not with_tables:
        return result
    interface_count = _number(values.get("if_number")) or MAX_REPETITIONS
    try:
        found = await _bulk_columns(peer, TABLE_COLUMNS,
                                    repetitions=min(MAX_REPETITIONS, max(4, interface_count + 1)))
    except _TablesUnanswered as unanswered:
        return _failure(unanswered.args[0], target=target, while_doing=" while its tables were read")
    result.interfaces = _interfaces(_as_entry_rows({c: found[c] for c in IF_COLUMNS}, IF_ENTRY),
                                    _as_entry_rows({c: found[c] for c in IFX_COLUMNS}, IFX_ENTRY))
    loads = [_number(value) for _, value in found[HR_PROCESSOR_LOAD] if _number(value) is not None]
    result.cpu_percent = round(sum(loads) / len(loads), 1) if loads else None
    result.storage = _storage(_as_entry_rows({c: found[c] for c in HR_COLUMNS[1:]}, HR_STORAGE_ENTRY))
    return result


async def poll_many(targets: Iterable[tuple[Any, SnmpTarget]], *, concurrency: int,
                    with_tables: bool = True) -> list[tuple[Any, PollResult]]:
    """Poll every target, at most ``concurrency`` at a time.

    v1/v2c targets share one light dispatcher (one UDP socket; answers matched by request id). Each v3
    target gets its own engine, because an engine keeps one set of keys per user name and two devices
    may share a user name with different keys."""
    bound = asyncio.Semaphore(concurrency)
    dispatcher = v1arch.SnmpDispatcher()

    async def one(key: Any, target: SnmpTarget) -> tuple[Any, PollResult]:
        async with bound:
            engine = SnmpEngine() if target.version == "3" else None
            try:
                peer = await _Peer.open(target, dispatcher=dispatcher, engine=engine)
            except PySnmpError as error:
                return key, PollResult(status="unreachable",
                                       detail=f"Cannot resolve or reach {target.host}: {error}"[:300])
            try:
                return key, await poll(peer, with_tables=with_tables)
            except Exception as error:  # a malformed answer from one device must not stop the cycle
                return key, PollResult(status="error", detail=f"{type(error).__name__}: {error}"[:300])
            finally:
                if engine is not None:
                    engine.close_dispatcher()

    try:
        return list(await asyncio.gather(*(one(key, target) for key, target in targets)))
    finally:
        dispatcher.close()


def octets_rate(*, previous: int | None, current: int | None, seconds: float, counter_bits: int,
                speed_bps: int | None = None) -> float | None:
    """Bits per second between two counter readings; one wrap of the counter is allowed for.

    A "wrap" faster than the link can carry is a counter reset (reboot, counters cleared): no rate then."""
    if previous is None or current is None or seconds <= 0:
        return None
    delta = current - previous
    if delta < 0:
        delta += 2 ** counter_bits  # the counter wrapped once
        if delta < 0:
            return None
    rate = delta * 8 / seconds
    if speed_bps and rate > speed_bps * 1.1:
        return None
    return rate
