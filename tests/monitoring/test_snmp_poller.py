"""The SNMP poller against net-snmp's snmpd on loopback: system group, interfaces with 64-bit
counters, storage; a wrong community and a dead port give a clear status, not an exception."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from monitoring.snmp import SnmpTarget, octets_rate, poll_many
from tests.monitoring.conftest import V3_AUTH_KEY, V3_PRIV_KEY, V3_USER, free_udp_port


def _poll(*targets: SnmpTarget):
    return [result for _, result in asyncio.run(poll_many(list(enumerate(targets)), concurrency=10))]


def test_system_group_interfaces_and_storage(snmpd):
    [result] = _poll(SnmpTarget(host="127.0.0.1", port=snmpd.port, community=snmpd.community))
    assert result.status == "up", result.detail
    assert result.system["name"] == "stand-in-agent" and result.system["location"] == "Rack 4, Test Lab"
    assert result.system["contact"] == "noc@example.com" and "Linux" in result.system["descr"]
    assert result.system["object_id"].startswith("1.3.6.1.4.1.") and result.system["uptime_seconds"] >= 0
    assert result.response_ms is not None and result.response_ms > 0
    loopback = next(i for i in result.interfaces if i.name == "lo")
    assert loopback.counter_bits == 64 and loopback.in_octets is not None
    assert loopback.admin_status == "up" and loopback.oper_status == "up"
    assert any(entry["size_bytes"] > 0 for entry in result.storage)


def test_snmp_v1_reads_the_same_tables_with_getnext(snmpd):
    """v1 has no GETBULK or 64-bit counters: the poller asks column by column with GETNEXT."""
    v1, v2c = _poll(SnmpTarget(host="127.0.0.1", port=snmpd.port, version="1", community=snmpd.community),
                    SnmpTarget(host="127.0.0.1", port=snmpd.port, community=snmpd.community))
    assert v1.status == "up", v1.detail
    assert v1.system["name"] == "stand-in-agent"
    assert [i.name for i in v1.interfaces] == [i.name for i in v2c.interfaces]
    loopback = next(i for i in v1.interfaces if i.name == "lo")
    assert loopback.counter_bits == 32 and loopback.in_octets is not None and loopback.oper_status == "up"
    assert [entry["descr"] for entry in v1.storage] == [entry["descr"] for entry in v2c.storage]


def test_wrong_community_and_dead_port_are_statuses(snmpd):
    wrong, dead, unknown_host = _poll(
        SnmpTarget(host="127.0.0.1", port=snmpd.port, community="not-the-community", timeout=0.5, retries=0),
        SnmpTarget(host="127.0.0.1", port=free_udp_port(), community="public", timeout=0.5, retries=0),
        SnmpTarget(host="no-such-host.invalid", port=161, community="public", timeout=0.5, retries=0))
    assert wrong.status == "timeout" and "wrong community" in wrong.detail
    assert dead.status == "timeout"
    assert unknown_host.status == "unreachable" and "no-such-host.invalid" in unknown_host.detail


def test_counter_rates_allow_one_wrap():
    assert octets_rate(previous=1000, current=2000, seconds=10, counter_bits=32) == 800.0
    wrapped = octets_rate(previous=2**32 - 500, current=500, seconds=10, counter_bits=32)
    assert wrapped == 1000 * 8 / 10
    assert octets_rate(previous=2**64 - 1, current=9, seconds=1, counter_bits=64) == 80.0
    reset = octets_rate(previous=3_000_000_000, current=10, seconds=10, counter_bits=32, speed_bps=100_000_000)
    assert reset is None  # faster than the 100 Mbit/s link: the counters were reset, not wrapped
    assert octets_rate(previous=None, current=10, seconds=10, counter_bits=32) is None


def test_recorded_switch_from_snmpsim(snmpsim):
    [result] = _poll(SnmpTarget(host="127.0.0.1", port=snmpsim.port, community="switch"))
    assert result.status == "up", result.detail
    assert result.system == {"descr": "Fleetwatch Test Switch 24-port, firmware 15.2",
                             "object_id": "1.3.6.1.4.1.9.1.1208", "uptime_seconds": 123456,
                             "contact": "noc@example.com", "name": "sim-switch", "location": "Closet B"}
    first, second = result.interfaces
    assert (first.name, first.alias, first.oper_status, second.oper_status) == ("Gi0/1", "Uplink to core", "up",
                                                                                 "down")
    assert first.counter_bits == 64 and first.in_octets == 9876543210 and second.out_octets == 2469135780
    assert first.speed_bps == 1_000_000_000 and first.if_type == 6
    assert result.cpu_percent == 41.0
    assert result.storage == [{"descr": "Physical memory", "size_bytes": 2147483648, "used_bytes": 1073741824,
                               "used_percent": 50.0}]


def test_snmp_v3_against_snmpsim(snmpsim):
    good, wrong_key = _poll(
        SnmpTarget(host="127.0.0.1", port=snmpsim.port, version="3", v3_user=V3_USER, auth_protocol="sha",
                   auth_key=V3_AUTH_KEY, priv_protocol="aes", priv_key=V3_PRIV_KEY, context_name="switch"),
        SnmpTarget(host="127.0.0.1", port=snmpsim.port, version="3", v3_user=V3_USER, auth_protocol="sha",
                   auth_key="not-the-key-at-all", priv_protocol="aes", priv_key=V3_PRIV_KEY, context_name="switch",
                   timeout=0.5, retries=0))
    assert good.status == "up", good.detail
    assert good.system["name"] == "sim-switch" and good.cpu_percent == 41.0
    assert wrong_key.status in ("timeout", "error") and wrong_key.detail


@pytest.fixture
def answers_only_its_first_request(snmpd) -> Iterator[int]:
    """A UDP relay in front of snmpd that forwards each client's first request and drops the rest: a
    device that answers the system group, then goes quiet (a link flapping, a busy control plane)."""
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.bind(("127.0.0.1", 0))
    relay.settimeout(0.2)
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.settimeout(2)
    seen: set = set()
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                request, client = relay.recvfrom(65535)
            except TimeoutError:
                continue
            if client in seen:
                continue
            seen.add(client)
            upstream.sendto(request, ("127.0.0.1", snmpd.port))
            relay.sendto(upstream.recv(65535), client)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield relay.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    relay.close()
    upstream.close()


def test_a_device_that_stops_answering_mid_poll_is_a_timeout_not_empty_tables(snmpd, answers_only_its_first_request):
    [result] = _poll(SnmpTarget(host="127.0.0.1", port=answers_only_its_first_request, community=snmpd.community,
                                timeout=0.3, retries=0))
    assert result.status == "timeout" and "while its tables were read" in result.detail
    assert result.interfaces == [] and result.storage == []
