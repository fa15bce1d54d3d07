"""Benchmark: one SNMP poll cycle (system group + interfaces + CPU + storage) of 1,000 devices simulated
by snmpsim, on one worker process.

Prints the cycle time, devices per second and the CPU the poller used (snmpsim runs in its own process
on the same machine). Usage: ``python -m tests.bench.snmp_cycle [--devices N] [--concurrency N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import psutil

from monitoring.snmp import SnmpTarget, poll_many
from tests.monitoring.conftest import start_snmpsim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    communities = [f"device-{n:05d}" for n in range(args.devices)]
    with tempfile.TemporaryDirectory(prefix="fleetwatch-snmpsim-") as folder:
        started = time.perf_counter()
        simulator, port = start_snmpsim(Path(folder), communities)
        print(f"snmp poll cycle: {args.devices} devices simulated by snmpsim (ready in "
              f"{time.perf_counter() - started:.0f} s), concurrency {args.concurrency}")
        try:
            targets = [(community, SnmpTarget(host="127.0.0.1", port=port, community=community, timeout=5, retries=1))
                       for community in communities]
            me = psutil.Process()
            sim = psutil.Process(simulator.pid)
            cpu_before, sim_before = me.cpu_times(), sim.cpu_times()
            started = time.perf_counter()
            results = asyncio.run(poll_many(targets, concurrency=args.concurrency))
            seconds = time.perf_counter() - started
            cpu_after, sim_after = me.cpu_times(), sim.cpu_times()
        finally:
            simulator.terminate()
            simulator.wait(timeout=10)
    up = sum(1 for _, result in results if result.status == "up")
    interfaces = sum(len(result.interfaces) for _, result in results)
    poller_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    sim_cpu = (sim_after.user + sim_after.system) - (sim_before.user + sim_before.system)
    failures: dict[str, int] = {}
    for _, result in results:
        if result.status != "up":
            failures[f"{result.status}: {result.detail[:80]}"] = failures.get(f"{result.status}: {result.detail[:80]}", 0) + 1
    print(f"  cycle: {seconds:.1f} s, {args.devices / seconds:.0f} devices/s, {up}/{args.devices} up, "
          f"{interfaces} interfaces read; poller CPU {poller_cpu:.1f} s ({100 * poller_cpu / seconds:.0f}% of one "
          f"core), snmpsim CPU {sim_cpu:.1f} s")
    for failure, count in failures.items():
        print(f"  not up: {count} × {failure}")


if __name__ == "__main__":
    main()
