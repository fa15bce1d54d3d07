"""Real SNMP peers on loopback: net-snmp's snmpd with its own config on a high port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

COMMUNITY = "fleetwatch-test"
V3_USER, V3_AUTH_KEY, V3_PRIV_KEY = "fleetwatch", "auth-secret-123", "priv-secret-456"


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


@dataclass(frozen=True)
class SimulatedDevices:
    port: int
    communities: list[str]


def start_snmpsim(folder: Path, communities: list[str]) -> tuple[subprocess.Popen, int]:
    """snmpsim answering each community from the recorded switch (one data file per community)."""
    import sys

    from tests.monitoring.recordings import write_recording

    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    template = write_recording(folder / "switch.snmprec")
    for community in communities:
        target = data / f"{community}.snmprec"
        if not target.exists():
            os.link(template, target)  # snmpsim names communities after real files, not symlinks
    port = free_udp_port()
    responder = Path(sys.executable).with_name("snmpsim-command-responder")
    process = subprocess.Popen(
        [str(responder), f"--cache-dir={folder / 'cache'}", "--log-level=error",
         # One engine: its id first, then its data, v3 user (SHA, AES; the context names the data file) and
         # endpoint. Options given before --v3-engine-id are not applied to it.
         "--v3-engine-id=auto", f"--data-dir={data}", f"--v3-user={V3_USER}", f"--v3-auth-key={V3_AUTH_KEY}",
         "--v3-auth-proto=SHA",
         f"--v3-priv-key={V3_PRIV_KEY}", "--v3-priv-proto=AES", f"--agent-udpv4-endpoint=127.0.0.1:{port}"],
        env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
        stdout=subprocess.DEVNULL, stderr=(folder / "snmpsim.log").open("w"))
    deadline = time.monotonic() + 120  # it indexes every data file before answering
    while time.monotonic() < deadline:
        probe = subprocess.run(["snmpget", "-v2c", "-c", communities[0], "-t", "0.5", "-r", "0",
                                f"127.0.0.1:{port}", "1.3.6.1.2.1.1.5.0"], capture_output=True, text=True)
        if probe.returncode == 0:
            return process, port
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"snmpsim did not answer: {(folder / 'snmpsim.log').read_text()[-2000:]}")


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory) -> Iterator[SimulatedDevices]:
    communities = ["switch"]
    process, port = start_snmpsim(tmp_path_factory.mktemp("snmpsim"), communities)
    yield SimulatedDevices(port=port, communities=communities)
    process.terminate()
    process.wait(timeout=10)
