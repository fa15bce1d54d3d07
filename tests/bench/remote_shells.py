"""Benchmark: remote shells streaming through one server while a swarm of agents heartbeats.

The shells are real: each is a `fleetwatch-agent run` process (enrolled with the agent's own `enroll`), with a
session opened for a technician on the dashboard's session socket. The technician's "browser" is a websocket
client signed in with a session cookie that acknowledges output at once, as a fast browser does; in each shell
it runs a command printing about 1 MB/s. Meanwhile the swarm of `tests.bench.agent_swarm` (simulated agents
that enroll through the API, send a full inventory when asked and heartbeat at the server's interval)
heartbeats. Prints the heartbeat-ack p50/p99 before and while the shells stream, the shells' delivered
throughput, and the web processes' CPU and memory.

Uses a throw-away database: a fresh SQLite file, or ``DATABASE_URL`` (emptied first). Usage:
``python -m tests.bench.remote_shells [--agents N] [--shells N] [--rate-kb N] [--seconds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import random
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.agent_swarm import (
    WINDOW,
    Fleet,
    Shared,
    _agent,
    _enroll_all,
    _percentile,
    _seed_site,
    _wait_connected,
)
from tests.bench.environment import set_up_django

REPO = Path(__file__).resolve().parents[2]
# Prints `rate` KB of base64 text a second (log-like output that compresses as real output does, not zeros).
PRODUCER = ("python3 -u -c \"import base64,os,sys,time\nline=base64.b64encode(os.urandom(767))+b'\\\\n'\n"
            "while 1:\n t=time.monotonic()\n for _ in range({lines}): sys.stdout.buffer.write(line)\n"
            " sys.stdout.flush(); time.sleep(max(0,0.1-(time.monotonic()-t)))\"\r")


class Windows:
    """Heartbeat acks sorted by the measurement window that was open when each came back."""

    def __init__(self, window) -> None:
        self.window = window
        self.by_window: dict[int, list[float]] = {}

    def append(self, value: float) -> None:
        self.by_window.setdefault(self.window.value, []).append(value)

    def __getitem__(self, phase: str) -> Windows | list[float]:
        """The swarm's agents file an ack under the phase its heartbeat was sent in: only the windows' count."""
        return self if phase == WINDOW else []


def _swarm_process(tokens: list[str], first_number: int, url: str, ramp: float, shared: Shared, window) -> None:
    acks = Windows(window)
    errors: dict[str, int] = {}

    async def run() -> None:
        tasks = [asyncio.create_task(_agent(token, first_number + n, url, shared, acks, errors,
                                            random.uniform(0, ramp))) for n, token in enumerate(tokens)]
        while not shared.stop.is_set():
            await asyncio.sleep(0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    shared.results.put((acks.by_window, errors))


def _shell_agents(count: int, url: str, token: str, directory: Path) -> list[subprocess.Popen]:
    """Enroll ``count`` real agents with the agent's own command and run each as a process."""
    processes = []
    for number in range(count):
        state = directory / f"agent-{number}"
        state.mkdir(parents=True)
        config = state / "agent.toml"
        config.write_text(f'state_dir = "{state}/state"\nlog_level = "WARNING"\ncollect_software = false\n'
                          "collect_services = false\ncollect_updates = false\n")
        agent = [sys.executable, "-m", "fleetwatch_agent", "--config", str(config)]
        subprocess.run([*agent, "enroll", "--server", url, "--token", token], check=True, capture_output=True,
                       cwd=REPO)
        processes.append(subprocess.Popen([*agent, "run"], cwd=REPO, stdout=subprocess.DEVNULL,
                                          stderr=(state / "agent.err").open("w")))
    return processes


def _browsers(urls: list[str], cookie: str, origin: str, rate_kb: int, received, opened, stop) -> None:
    """The technicians' browsers: open each session, start the producer, acknowledge everything at once."""
    import websockets

    lines = max(1, rate_kb * 1024 // 10 // 1024)

    async def browse(url: str) -> None:
        async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": origin},
                                      max_size=2**22) as socket:
            while True:
                message = await socket.recv()
                if isinstance(message, str) and json.loads(message).get("event") == "opened":
                    break
            with opened.get_lock():
                opened.value += 1
            await socket.send(struct.pack(">BI", 1, 0) + PRODUCER.format(lines=lines).encode())
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(socket.recv(), 1)
                except TimeoutError:
                    continue
                if isinstance(message, bytes):
                    with received.get_lock():
                        received.value += len(message) - 5
                    await socket.send(json.dumps({"op": "ack", "stream": 0, "bytes": len(message) - 5}))
            await socket.send(json.dumps({"op": "close"}))

    async def run() -> None:
        results = await asyncio.gather(*(browse(url) for url in urls), return_exceptions=True)
        failed = [repr(result) for result in results if isinstance(result, Exception)]
        if failed:
            print(f"  {len(failed)} browser sockets failed: {failed[:3]}")

    asyncio.run(run())


def _cpu(processes: list) -> float:
    """CPU seconds of the processes still there (a shell's command may have ended)."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _family(processes: list) -> list:
    """The given processes (Popen or multiprocessing) and all their descendants, as psutil processes."""
    import psutil

    found = []
    for process in processes:
        try:
            root = psutil.Process(process.pid)
            found += [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
    return found


def _settle(web: list, *, limit: float) -> float:
    """Wait until the web processes are idle enough to measure a steady state (the first inventories of a
    freshly connected swarm keep them busy for a while); returns how long that took."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = _cpu(web)
        time.sleep(5)
        if (_cpu(web) - before) / 5 < 0.5:
            break
    return time.perf_counter() - started


def _open_sessions(device_ids: list[int], username: str) -> list[str]:
    from portal.access import actor_for_user
    from portal.accounts.models import User
    from portal.remote.services import open_session

    actor = actor_for_user(User.objects.get(username=username))
    # Plain sh: the account's login shell reads the machine's profile files, whose cost is not the product's.
    return [str(open_session(actor=actor, device_id=pk, kind="shell", shell="sh").key)  # noqa: S604 (a name)
            for pk in device_ids]


def _wait_online(device_ids: list[int], limit: float) -> None:
    from django.db import connection

    from portal.inventory.models import Device

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        connection.close()
        if Device.objects.filter(pk__in=device_ids, status="online").exclude(agent_channel="").count() == len(
                device_ids):
            return
        time.sleep(0.5)
    raise RuntimeError("the shell agents did not all come online")


def main() -> None:
    from realtime.server import web_process_count

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000, help="simulated agents heartbeating")
    parser.add_argument("--shells", type=int, default=50, help="real agents with a shell streaming output")
    parser.add_argument("--rate-kb", type=int, default=1024, help="output each shell prints, KB a second")
    parser.add_argument("--seconds", type=float, default=30, help="each measurement window")
    parser.add_argument("--interval", type=int, default=30, help="heartbeat interval the server asks for")
    parser.add_argument("--ramp", type=float, default=60, help="the swarm connects spread over this many seconds")
    parser.add_argument("--web-processes", type=int, default=web_process_count())
    args = parser.parse_args()
    set_up_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from portal.access import Role
    from portal.accounts.models import User
    from portal.inventory.models import Device
    from tests.live import free_port

    enrollment_token = _seed_site(args.interval)
    tech = User.objects.create_user(username="bench-tech", role=Role.ADMIN, all_companies=True)
    settings.ALLOWED_HOSTS = ["*"]
    browser = Client()
    browser.force_login(tech)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    connection.close()
    print(f"remote shells: {args.shells} shells at {args.rate_kb} KB/s each while {args.agents} agents heartbeat "
          f"every {args.interval} s; {connection.vendor}, channel layer "
          f"{'redis' if os.environ.get('REDIS_URL') else 'in-process (peer sockets between processes)'}, "
          f"{args.web_processes} web processes")
    fleet = Fleet(free_port(), args.interval, args.web_processes)
    fleet.start()
    url = f"http://127.0.0.1:{fleet.port}"
    shared, window = Shared(), multiprocessing.Value("i", 0)
    received, opened, stop = multiprocessing.Value("q", 0), multiprocessing.Value("i", 0), multiprocessing.Event()
    swarm, agents, browsers = [], [], None
    workdir = Path(tempfile.mkdtemp(prefix="fleetwatch-bench-shells-"))
    try:
        tokens = _enroll_all(url, enrollment_token, args.agents)
        shared.server_up.set()
        share = -(-len(tokens) // 2)
        swarm = [multiprocessing.Process(target=_swarm_process, daemon=True, args=(
            tokens[n * share:(n + 1) * share], n * share, f"ws://127.0.0.1:{fleet.port}/ws/agent/", args.ramp, shared,
            window)) for n in range(2)]
        for process in swarm:
            process.start()
        took = _wait_connected(shared, len(tokens), args.ramp + 120)
        print(f"  swarm: {shared.connects.value}/{len(tokens)} connected in {took:.1f} s")
        before = Device.objects.count()
        agents = _shell_agents(args.shells, url, enrollment_token, workdir)
        shell_devices = list(Device.objects.order_by("pk").values_list("pk", flat=True)[before:])
        _wait_online(shell_devices, 120)
        web = fleet.web()

        def measure(number: int, label: str) -> None:
            window.value = number
            shared.measuring.set()
            parts = {"web processes": web, "shell agents and their shells": _family(agents),
                     "browsers": _family([browsers] if browsers else []), "swarm": _family(swarm)}
            cpu = {name: _cpu(processes) for name, processes in parts.items()}
            bytes_before, started = received.value, time.perf_counter()
            time.sleep(args.seconds)
            shared.measuring.clear()
            elapsed = time.perf_counter() - started
            rss = sum(process.memory_info().rss for process in web) / 2**20
            moved = (received.value - bytes_before) / elapsed / 2**20
            shares = ", ".join(f"{name} {(_cpu(parts[name]) - cpu[name]) / elapsed * 100:.0f}%"
                               for name in parts)
            print(f"  {label}: CPU (of one core) {shares}; web RSS {rss:.0f} MB; shell output delivered "
                  f"{moved:.1f} MB/s in all ({moved / max(1, opened.value) * 1024:.0f} KB/s per open shell, "
                  f"{opened.value} open)")

        settled = _settle(web, limit=240)
        print(f"  the swarm's first inventories written after {settled:.0f} s more (web processes below half a core)")
        measure(1, "before the shells")
        keys = _open_sessions(shell_devices, "bench-tech")
        connection.close()
        urls = [f"ws://127.0.0.1:{fleet.port}/ws/remote/{key}/?cols=120&rows=40" for key in keys]
        browsers = multiprocessing.Process(target=_browsers, daemon=True, args=(
            urls, cookie, url, args.rate_kb, received, opened, stop))
        browsers.start()
        deadline = time.monotonic() + 60
        while opened.value < len(urls) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(5)  # the producers start and the windows fill
        measure(2, "while the shells stream")
    finally:
        stop.set()
        if browsers is not None:
            browsers.join(timeout=30)
        shared.stop.set()
        windows: dict[int, list[float]] = {}
        for _ in swarm:
            try:
                by_window, _errors = shared.results.get(timeout=60)
            except queue.Empty:
                print("  (a swarm process did not report its acks)")
                continue
            for number, values in by_window.items():
                windows.setdefault(number, []).extend(values)
        for number, label in ((1, "before the shells"), (2, "while the shells stream")):
            acks = windows.get(number, [])
            print(f"  heartbeat acks {label}: {len(acks)}, p50 {_percentile(acks, 0.5):.1f} ms, "
                  f"p99 {_percentile(acks, 0.99):.1f} ms")
        for agent in agents:
            agent.terminate()
        for agent in agents:
            agent.wait(timeout=30)
        fleet.stop()
        print(f"  server errors logged: {fleet.log_summary()} (log: {fleet.log_path})")


if __name__ == "__main__":
    main()
