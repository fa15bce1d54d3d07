"""Benchmark: one SNMP poll cycle (system group + interfaces + CPU + storage) of 1,000 devices simulated
by snmpsim.

By default the cycle runs as in production: the devices are rows in a throw-away database (SQLite, or
``DATABASE_URL``), `manage.py qcluster` runs with ``--workers`` task workers, and the cycle's dispatch
claims every due device and queues one chunk per worker. Prints the wall time until every device's
result is stored, how many results were stored (each exactly once), and the CPU the cluster and the
simulators used. ``--poller-only`` measures the poller alone in this process (no database, no cluster).

snmpsim answers from ``--simulators`` processes (the devices' communities shared out between them), on
the same machine: its CPU competes with the poller's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from tests.bench.environment import set_up_django
from tests.monitoring.conftest import start_snmpsim

REPO = Path(__file__).resolve().parents[2]


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def _simulate(stack: ExitStack, communities: list[str], count: int) -> list[tuple[subprocess.Popen, int, list[str]]]:
    started = time.perf_counter()
    simulators = []
    for number in range(count):
        share = communities[number::count]
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleetwatch-snmpsim-")))
        process, port = start_snmpsim(folder, share)
        stack.callback(lambda process=process: (process.terminate(), process.wait(timeout=10)))
        simulators.append((process, port, share))
    print(f"  {len(communities)} devices simulated by {count} snmpsim process(es), ready in "
          f"{time.perf_counter() - started:.0f} s")
    return simulators


def _failures(results) -> None:
    failures: dict[str, int] = {}
    for status, detail in results:
        if status != "up":
            failures[f"{status}: {detail[:90]}"] = failures.get(f"{status}: {detail[:90]}", 0) + 1
    for failure, count in failures.items():
        print(f"  not up: {count} x {failure}")


def poller_only(args: argparse.Namespace) -> None:
    from monitoring.snmp import SnmpTarget, poll_many

    communities = [f"device-{n:05d}" for n in range(args.devices)]
    print(f"snmp poll cycle, the poller alone in one process: concurrency {args.concurrency}")
    with ExitStack() as stack:
        simulators = _simulate(stack, communities, args.simulators)
        targets = [(community, SnmpTarget(host="127.0.0.1", port=port, community=community, timeout=5, retries=1))
                   for _, port, share in simulators for community in share]
        me, sims = psutil.Process(), [psutil.Process(process.pid) for process, _, _ in simulators]
        cpu_before, sim_before = _cpu([me]), _cpu(sims)
        started = time.perf_counter()
        results = asyncio.run(poll_many(targets, concurrency=args.concurrency))
        seconds = time.perf_counter() - started
        poller_cpu, sim_cpu = _cpu([me]) - cpu_before, _cpu(sims) - sim_before
    up = sum(1 for _, result in results if result.status == "up")
    interfaces = sum(len(result.interfaces) for _, result in results)
    print(f"  cycle: {seconds:.1f} s, {args.devices / seconds:.0f} devices/s, {up}/{args.devices} up, "
          f"{interfaces} interfaces read; poller CPU {poller_cpu:.1f} s ({1000 * poller_cpu / args.devices:.1f} ms "
          f"per device), snmpsim CPU {sim_cpu:.1f} s")
    _failures((result.status, result.detail) for _, result in results)


def _seed(simulators) -> None:
    from django.core.management import call_command

    from monitoring.models import NetworkDevice
    from portal.tenancy.models import Company, Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    site = Site.objects.create(company=Company.objects.create(name="Client 001"), name="HQ")
    # Rows as the pages create them (the community encrypted at rest), written in one go: seeding is not
    # what is measured.
    NetworkDevice.objects.bulk_create(
        [NetworkDevice(company=site.company, site=site, name=community, host="127.0.0.1", port=port,
                       community=community, snmp_version="2c") for _, port, share in simulators
         for community in share], batch_size=500)


def through_the_cluster(args: argparse.Namespace) -> None:
    set_up_django()
    from django.db import connection

    from monitoring.models import NetworkDevice, NetworkPollSample
    from monitoring.polling import poll_due_devices

    communities = [f"device-{n:05d}" for n in range(args.devices)]
    layer = "Redis broker" if os.environ.get("REDIS_URL") else "database broker"
    print(f"snmp poll cycle through the task cluster: {args.workers} workers, {connection.vendor}, {layer}, "
          f"concurrency {args.concurrency} per worker")
    with ExitStack() as stack:
        simulators = _simulate(stack, communities, args.simulators)
        _seed(simulators)
        env = {**os.environ, "FLEETWATCH_WORKERS": str(args.workers), "FLEETWATCH_LOG_LEVEL": "WARNING",
               "FLEETWATCH_SNMP_CONCURRENCY": str(args.concurrency)}
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(lambda: (cluster.terminate(), cluster.wait(timeout=60)))
        time.sleep(5)  # the cluster's workers start
        processes = [psutil.Process(cluster.pid), *psutil.Process(cluster.pid).children(recursive=True)]
        sims = [psutil.Process(process.pid) for process, _, _ in simulators]
        cpu_before, sim_before = _cpu(processes), _cpu(sims)
        started = time.perf_counter()
        queued = poll_due_devices()
        dispatched = time.perf_counter() - started
        deadline = started + 300
        while time.perf_counter() < deadline:
            if not NetworkDevice.objects.exclude(poll_claim="").exists():
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        cluster_cpu, sim_cpu = _cpu(processes) - cpu_before, _cpu(sims) - sim_before
        results = list(NetworkDevice.objects.values_list("status", "status_detail"))
    up = sum(1 for status, _ in results if status == "up")
    samples = NetworkPollSample.objects.count()
    print(f"  dispatch: {queued.get('chunks', 0)} chunks queued in {dispatched * 1000:.0f} ms")
    print(f"  cycle: {seconds:.1f} s wall until every result was stored, {args.devices / seconds:.0f} devices/s; "
          f"{up}/{args.devices} up; {samples} results stored ({samples - args.devices:+d} vs one per device); "
          f"cluster CPU {cluster_cpu:.1f} s ({1000 * cluster_cpu / args.devices:.1f} ms per device: poll and store), "
          f"snmpsim CPU {sim_cpu:.1f} s; {psutil.cpu_count()} cores")
    _failures(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=40,
                        help="SNMP polls in flight per worker (the simulators on this machine queue what "
                             "real devices answer in parallel; beyond ~50 their queue outlasts the timeout)")
    parser.add_argument("--workers", type=int, default=psutil.cpu_count() or 2, help="task cluster workers")
    parser.add_argument("--simulators", type=int, default=2, help="snmpsim processes answering the devices")
    parser.add_argument("--poller-only", action="store_true",
                        help="the poller alone in this process: no database, no task cluster")
    args = parser.parse_args()
    poller_only(args) if args.poller_only else through_the_cluster(args)


if __name__ == "__main__":
    main()
