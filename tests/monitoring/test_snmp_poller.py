"""The SNMP poller against net-snmp's snmpd on loopback: system group, interfaces with 64-bit
counters, storage; a wrong community and a dead port give a clear status, not an exception."""

from __future__ import annotations

import asyncio

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
