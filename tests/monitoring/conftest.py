"""Real SNMP peers on loopback: net-snmp's snmpd with its own config on a high port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

COMMUNITY = "fleetwatch-test"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class SnmpPeer:
    port: int
    community: str
    sys_name: str


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory) -> Iterator[SnmpPeer]:
    binary = shutil.which("snmpd") or "/usr/sbin/snmpd"
    if not Path(binary).exists():
        pytest.fail("snmpd is not installed: apt-get install snmpd snmp (CI installs it)")
    folder = tmp_path_factory.mktemp("snmpd")
    port = free_udp_port()
    config = folder / "snmpd.conf"
    config.write_text(f"agentAddress udp:127.0.0.1:{port}\nrocommunity {COMMUNITY} 127.0.0.1\n"
                      "sysName stand-in-agent\nsysLocation Rack 4, Test Lab\nsysContact noc@example.com\n")
    process = subprocess.Popen(
        [binary, "-f", "-Lo", "-C", "-c", str(config), "-I", "-smux,mteTrigger,mteTriggerConf"],
        env={"SNMP_PERSISTENT_DIR": str(folder), "MIBS": "", "PATH": "/usr/sbin:/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=(folder / "snmpd.log").open("w"))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        probe = subprocess.run(["snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.5", "-r", "0",
                                f"127.0.0.1:{port}", "1.3.6.1.2.1.1.5.0"], capture_output=True, text=True)
        if probe.returncode == 0:
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"snmpd did not answer: {(folder / 'snmpd.log').read_text()[-1000:]}")
    yield SnmpPeer(port=port, community=COMMUNITY, sys_name="stand-in-agent")
    process.terminate()
    process.wait(timeout=10)
