"""Benchmark: a swarm of simulated agents that behave like the real one, against `manage.py run_fleet`.

Each simulated agent enrolls through `POST /api/agent/enroll/` (16 at a time, one site token, as a GPO or
MDM roll-out does), connects with its token, says hello with the real agent's capabilities, sends its
full inventory (the real agent's recorded `collect` output, varied per agent) when the server's hash
differs, heartbeats at the interval the server gives, keeps websocket pings at 20 s, and reconnects with
the real agent's full-jitter backoff (never under the reconnect window its welcome gives). Prints
enrollment rate, connects and failed connects, heartbeat-ack p50/p99 (of heartbeats sent in a steady-state window
after the last connect, and of those sent during the connect), the server's CPU and memory (all its
web processes), how long the fleet's first inventories took to be stored, how a reconnect storm after a
server restart went (once they are stored; ``--restart-during-backlog`` restarts while they are still being
written), and the real agent's own footprint at a 30 s interval.

Uses a throw-away database: a fresh SQLite file, or ``DATABASE_URL`` (emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.bench.environment import machine_speed, set_up_django

REPO = Path(__file__).resolve().parents[2]
ENROLL_CONCURRENCY = 16
CONNECT, WINDOW = "connect", "window"  # the phases a heartbeat's ack is counted in


def _seed_site(interval: int) -> str:
    """An empty fleet with one client company, one site and an enrollment token for it."""
    from django.core.management import call_command

    from portal.access import system_actor
    from portal.inventory.enrollment import create_enrollment_token
    from portal.tenancy.models import Company, Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    site = Site.objects.create(company=Company.objects.create(name="Client 001"), name="HQ")
    return create_enrollment_token(actor=system_actor(), site=site, name="roll-out").plaintext


def _enroll_all(url: str, token: str, count: int) -> list[str]:
    """Enroll ``count`` agents through the API, 16 at a time; print the rate and any refusals."""
    def enroll(number: int) -> str | int:
        body = json.dumps({"token": token, "facts": {"hostname": f"agent-{number:05d}", "os_type": "linux",
                                                     "agent_version": "swarm"}}).encode()
        request = urllib.request.Request(f"{url}/api/agent/enroll/", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["agent_token"]
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    started = time.perf_counter()
    with ThreadPoolExecutor(ENROLL_CONCURRENCY) as pool:
        answers = list(pool.map(enroll, range(count)))
    seconds = time.perf_counter() - started
    tokens = [answer for answer in answers if isinstance(answer, str)]
    refused: dict[int, int] = {}
    for answer in answers:
        if not isinstance(answer, str):
            refused[answer] = refused.get(answer, 0) + 1
    print(f"  enrollment: {len(tokens)}/{count} agents enrolled through the API in {seconds:.1f} s "
          f"({len(tokens) / seconds:.0f}/s, {ENROLL_CONCURRENCY} at a time), refused {refused or 0}")
    return tokens


class Fleet:
    """`manage.py run_fleet` (web processes only), started and stopped like a production service."""

    def __init__(self, port: int, interval: int, web_processes: int) -> None:
        self.port = port
        self.interval = interval
        self.web_processes = web_processes
        self.process: subprocess.Popen | None = None
        # The server's warnings and errors, kept for reading after a run (the summary prints what they were).
        self.log_path = Path(tempfile.mkdtemp(prefix="fleetwatch-bench-log-")) / "run_fleet.log"

    def start(self, on_listening: Callable[[], None] | None = None) -> None:
        """Start run_fleet and wait until its health page answers; ``on_listening`` is called as soon as
        its port accepts connections (agents connecting from then on count)."""
        env = {**os.environ, "FLEETWATCH_HEARTBEAT_SECONDS": str(self.interval), "FLEETWATCH_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_fleet", "--no-worker", "--port", str(self.port),
             "--web-processes", str(self.web_processes)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=self.log_path.open("ab"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if on_listening is not None and _accepts(self.port):
                on_listening()
                on_listening = None
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health/", timeout=5):
                    if len(self.web()) == self.web_processes:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        if self.process.poll() is None and len(self.web()) == self.web_processes:
            # Up, but its health page is behind a reconnect storm: measure the storm, do not give up.
            print("  (run_fleet's health page did not answer within 60 s of starting; its web processes run)")
            return
        raise RuntimeError("run_fleet did not start")

    def log_summary(self) -> str:
        """The server's logged errors by their first line, most frequent first."""
        counts: dict[str, int] = {}
        if self.log_path.exists():
            for line in self.log_path.read_text(errors="replace").splitlines():
                if " ERROR " in line or "Exception inside application" in line:
                    message = line.split(" ERROR ", 1)[-1][:100]
                    counts[message] = counts.get(message, 0) + 1
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:5]
        return "; ".join(f"{count}x {message}" for message, count in ranked) or "none"

    def web(self) -> list:
        import psutil

        return [child for child in psutil.Process(self.process.pid).children(recursive=True)
                if "daphne" in " ".join(child.cmdline())]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Shared:
    """What the client processes and the conductor share."""

    def __init__(self) -> None:
        self.connected = multiprocessing.Value("i", 0)
        self.connects = multiprocessing.Value("i", 0)
        self.failed_while_up = multiprocessing.Value("i", 0)
        self.inventories_sent = multiprocessing.Value("i", 0)
        self.measuring = multiprocessing.Event()
        self.window_opened = multiprocessing.Event()  # set with the first window, never cleared
        self.server_up = multiprocessing.Event()
        self.stop = multiprocessing.Event()
        self.results: multiprocessing.Queue = multiprocessing.Queue()


def _add(value, amount: int = 1) -> None:
    with value.get_lock():
        value.value += amount


async def _agent(token: str, number: int, url: str, shared: Shared, acks: dict[str, list[float]],
                 errors: dict[str, int], first_delay: float) -> None:
    import websockets
    from fleetwatch_agent.transport import Backoff

    from tests.bench.inventories import inventory_frame

    await asyncio.sleep(first_delay)
    backoff = Backoff(1.0, 60.0)  # the real agent's defaults
    content_hash, _ = inventory_frame(number)  # only the hash is kept: 15,000 frames would be 1.2 GB
    while not shared.stop.is_set():
        in_session = False
        try:
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                          open_timeout=15, ping_interval=20, ping_timeout=30,
                                          max_size=8 * 2**20) as socket:
                await socket.send(json.dumps({"type": "hello", "agent_version": "swarm",
                                              "capabilities": ["heartbeat", "inventory", "actions"]}))
                welcome = json.loads(await socket.recv())
                interval = welcome["heartbeat_interval"]
                in_session = True
                backoff.reset()
                backoff.advised(welcome.get("reconnect_spread"))  # as the real agent does
                _add(shared.connected)
                _add(shared.connects)
                if welcome.get("inventory_hash") != content_hash:
                    await socket.send(inventory_frame(number)[1])
                    _add(shared.inventories_sent)
                seq = 0
                while not shared.stop.is_set():
                    seq += 1
                    sent = time.perf_counter()
                    # An ack counts in the phase its heartbeat was sent in: one sent in the connect storm's last
                    # second and answered after the last agent connected belongs to the storm, not the window.
                    phase = WINDOW if shared.measuring.is_set() else None if shared.window_opened.is_set() else CONNECT
                    await socket.send(json.dumps({"type": "heartbeat", "seq": seq,
                                                  "metrics": {"cpu_percent": 3.0, "memory_percent": 40.0}}))
                    while True:
                        frame = json.loads(await socket.recv())
                        if frame.get("type") == "ack" and frame.get("seq") == seq:
                            break
                    if phase is not None:
                        acks[phase].append((time.perf_counter() - sent) * 1000)
                    # The real agent reads its socket all the time, so a server that goes away is noticed at
                    # once, not at the next heartbeat; the next send then fails and the backoff begins.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(socket.wait_closed(), timeout=interval)
        except Exception as error:  # retried like the real agent; refused connects are counted
            if in_session:
                _add(shared.connected, -1)
            elif shared.server_up.is_set():  # a lost session is expected on restart; a refused connect is not
                _add(shared.failed_while_up)
                name = type(error).__name__
                errors[name] = errors.get(name, 0) + 1
            await asyncio.sleep(backoff.next_delay())


def _client_process(tokens: list[str], first_number: int, url: str, ramp: float, shared: Shared) -> None:
    """One process of simulated agents (several share the load of a large swarm)."""
    import gc
    import random

    # A real agent is a process of its own with a small heap. One process holding thousands of simulated
    # agents is not: its garbage collections walked all their sockets and stopped every agent in it for up
    # to 1.7 s at once (both processes together, as they grow alike), which the acks it timed counted as the
    # server's. Its cycles are left until it ends.
    gc.disable()
    acks: dict[str, list[float]] = {CONNECT: [], WINDOW: []}
    errors: dict[str, int] = {}

    async def run() -> None:
        tasks = [asyncio.create_task(_agent(token, first_number + n, url, shared, acks, errors,
                                            random.uniform(0, ramp)))
                 for n, token in enumerate(tokens)]
        while not shared.stop.is_set():
            await asyncio.sleep(0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    shared.results.put((acks, errors))


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _cpu_seconds(processes: list) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def _wait_connected(shared: Shared, target: int, limit: float, *, since: float | None = None,
                    progress: list[tuple[int, int]] | None = None,
                    abandon: Callable[[], bool] = lambda: False) -> float:
    """Seconds until ``target`` agents connected (or ``limit``, or ``abandon()``), from ``since``;
    ``progress`` gets how many had every 15 s."""
    started = time.perf_counter() if since is None else since
    while shared.connects.value < target and time.perf_counter() - started < limit and not abandon():
        time.sleep(0.25)
        if progress is not None and time.perf_counter() - started >= 15 * (len(progress) + 1):
            progress.append((15 * (len(progress) + 1), shared.connects.value))
    return time.perf_counter() - started


def _wait_inventories_stored(count: int, limit: float = 900) -> None:
    """Wait until the first inventories of the whole fleet are stored, and say how long their writing went
    on after the steady-state window (a fleet's first connect leaves a backlog the writers work off)."""
    from django.db import connection

    from portal.inventory.models import DeviceInventory

    started = time.perf_counter()
    stored = 0
    while time.perf_counter() - started < limit:
        stored = DeviceInventory.objects.count()
        if stored >= count:
            break
        time.sleep(2)
    connection.close()
    print(f"  first inventories: {stored}/{count} stored {time.perf_counter() - started:.1f} s after the steady-state "
          "window ended (the restart below is of a fleet whose inventories are stored)")


def _restart(fleet: Fleet, shared: Shared, fleet_size: int) -> None:
    """Stop the server as a service manager would, start it again, and measure how the fleet comes back."""
    shared.failed_while_up.value = 0
    shared.server_up.clear()
    stopping_at = time.perf_counter()
    fleet.stop()
    stopped_after = time.perf_counter() - stopping_at
    time.sleep(1)
    with shared.connects.get_lock():
        shared.connects.value = 0
    restarted_at = time.perf_counter()
    listening_after: list[float] = []

    answered_after: list[float] = []

    def listening() -> None:
        listening_after.append(time.perf_counter() - restarted_at)
        shared.server_up.set()

    def start() -> None:
        fleet.start(on_listening=listening)
        answered_after.append(time.perf_counter() - restarted_at)
        shared.server_up.set()

    progress: list[tuple[int, int]] = []
    # Counted from the start, not from when the health page first answers: during a storm it answers late,
    # and counting after it would report that moment (and the count then) as the fleet's return.
    with ThreadPoolExecutor(max_workers=1) as starter:
        starting = starter.submit(start)
        took = _wait_connected(shared, fleet_size, 180, since=restarted_at, progress=progress,
                               abandon=lambda: starting.done() and starting.exception() is not None)
        starting.result()  # raises when run_fleet did not start
    listened = listening_after[0] if listening_after else answered_after[0]
    print(f"  reconnect storm after a restart: {shared.connects.value}/{fleet_size} back {took:.1f} s after "
          f"run_fleet was started, {took + stopped_after + 1:.1f} s after it was told to stop (it took "
          f"{stopped_after:.1f} s to stop, 1 s before the start; its port "
          f"listened after {listened:.1f} s, "
          f"its health page answered after {answered_after[0]:.1f} s); "
          f"{shared.failed_while_up.value} failed connects once the port listened; back after "
          f"{', '.join(f'{at} s: {count}' for at, count in progress) or '-'}")


def _watch_in_browser(fleet: Fleet, watched: tuple[int, str, str], rounds: int, fleet_size: int) -> None:
    """Event → screen while the whole fleet heartbeats: a browser watches one device's row change."""
    from tests.bench.live_latency import rounds_in_browser, summary

    device_id, hostname, token = watched
    latencies = asyncio.run(rounds_in_browser(port=fleet.port, device_id=device_id, hostname=hostname, token=token,
                                              rounds=rounds))
    print(f"  in a browser while {fleet_size} agents heartbeat ({rounds} rounds): {summary(latencies)}")


def _swarm(tokens: list[str], fleet: Fleet, seconds: float, ramp: float, client_processes: int,
           restart_during_backlog: bool, restarts: int, watched: tuple[int, str, str] | None = None,
           watch_rounds: int = 0) -> None:
    import psutil

    shared = Shared()
    shared.server_up.set()
    url = f"ws://127.0.0.1:{fleet.port}/ws/agent/"
    share = -(-len(tokens) // client_processes)
    clients = [multiprocessing.Process(target=_client_process, args=(
        tokens[n * share:(n + 1) * share], n * share, url, ramp, shared), daemon=True)
        for n in range(client_processes)]
    for client in clients:
        client.start()
    took = _wait_connected(shared, len(tokens), ramp + 120)
    print(f"  connected {shared.connects.value}/{len(tokens)} agents in {took:.1f} s (ramp {ramp:.0f} s), "
          f"{shared.inventories_sent.value} full inventories sent, {shared.failed_while_up.value} failed connects")

    web = fleet.web()
    cpu_before = _cpu_seconds(web)
    shared.measuring.set()
    shared.window_opened.set()
    measured_from = time.perf_counter()
    time.sleep(seconds)
    shared.measuring.clear()
    elapsed = time.perf_counter() - measured_from
    cpu_share = (_cpu_seconds(web) - cpu_before) / elapsed * 100
    rss = sum(process.memory_info().rss for process in web) / 2**20
    held = [sum(1 for c in process.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED) for process in web]
    print(f"  steady state, {seconds:.0f} s: {shared.connected.value} connected (per web process {held}); "
          f"daphne CPU {cpu_share:.0f}% of one core over {len(web)} processes, RSS {rss:.0f} MB in all")

    if not restart_during_backlog:
        _wait_inventories_stored(len(tokens))
    if watched is not None:
        _watch_in_browser(fleet, watched, watch_rounds, len(tokens))

    for _ in range(restarts):
        _restart(fleet, shared, len(tokens))
    shared.stop.set()
    acks: dict[str, list[float]] = {CONNECT: [], WINDOW: []}
    errors: dict[str, int] = {}
    for _ in clients:
        client_acks, client_errors = shared.results.get(timeout=120)
        for phase, timings in client_acks.items():
            acks[phase] += timings
        for name, number in client_errors.items():
            errors[name] = errors.get(name, 0) + number
    for client in clients:
        client.join(timeout=30)
    window, storm = acks[WINDOW], acks[CONNECT]
    print(f"  heartbeat acks in the steady state (heartbeats sent in the window): {len(window)}, "
          f"p50 {_percentile(window, 0.5):.1f} ms, p99 {_percentile(window, 0.99):.1f} ms; during the connect "
          f"(sent before the last agent connected): {len(storm)}, p50 {_percentile(storm, 0.5):.1f} ms, "
          f"p99 {_percentile(storm, 0.99):.1f} ms; connect errors by kind {errors or 'none'}")


def _agent_footprint(fleet: Fleet, seconds: float) -> None:
    """The real agent at a 30 s interval: resident memory and average CPU share of one core."""
    import psutil

    from portal.access import system_actor
    from portal.inventory.enrollment import create_enrollment_token
    from portal.tenancy.models import Site

    token = create_enrollment_token(actor=system_actor(), site=Site.objects.first(), name="footprint").plaintext
    # The agent's bytecode compiled, as `pip install` leaves it on an endpoint (a checkout's agent may run
    # from source, compiled in memory at every start: ~1.7 MB more).
    compileall.compile_dir(str(REPO / "agent" / "fleetwatch_agent"), quiet=1)
    with tempfile.TemporaryDirectory() as state:
        config = Path(state) / "agent.toml"
        config.write_text(f'state_dir = "{state}/s"\nlog_level = "WARNING"\n')
        agent = [sys.executable, "-m", "fleetwatch_agent", "--config", str(config)]
        subprocess.run([*agent, "enroll", "--server", f"http://127.0.0.1:{fleet.port}", "--token", token],
                       check=True, capture_output=True)
        process = subprocess.Popen([*agent, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        watched = psutil.Process(process.pid)
        time.sleep(15)  # start-up and the first inventory are not the steady state
        before = _cpu_seconds([watched])
        time.sleep(seconds)
        share = (_cpu_seconds([watched]) - before) / seconds * 100
        print(f"  real agent at a 30 s interval: RSS {watched.memory_info().rss / 2**20:.1f} MB, "
              f"CPU {share:.2f}% of one core (over {seconds:.0f} s)")
        process.terminate()
        process.wait(timeout=15)


def main() -> None:
    from realtime.server import web_process_count

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60, help="steady-state measurement window")
    parser.add_argument("--interval", type=int, default=30, help="heartbeat interval the server asks for")
    parser.add_argument("--ramp", type=float, default=60, help="agents connect spread over this many seconds")
    parser.add_argument("--web-processes", type=int, default=web_process_count(),
                        help="daphne processes run_fleet starts (default: one per core)")
    parser.add_argument("--client-processes", type=int, default=2,
                        help="processes the simulated agents are spread over")
    parser.add_argument("--restart-during-backlog", action="store_true",
                        help="restart right after the steady-state window, while first inventories are still "
                             "being written (their agents send them again), instead of once all are stored")
    parser.add_argument("--restarts", type=int, default=1,
                        help="how many times to restart the server and measure the reconnect storm (0: none)")
    parser.add_argument("--watch-rounds", type=int, default=20,
                        help="rounds of a browser watching one device's row go online and offline while the fleet "
                             "heartbeats, once its inventories are stored (0: skip)")
    parser.add_argument("--footprint-seconds", type=float, default=60,
                        help="how long to watch the real agent (0: skip)")
    args = parser.parse_args()
    set_up_django()
    from django.db import connection

    from tests.live import free_port

    enrollment_token = _seed_site(args.interval)
    watched = None
    if args.watch_rounds > 0:
        from portal.tenancy.models import Site
        from tests.bench.live_latency import watched_device

        watched = watched_device(Site.objects.first())
    connection.close()
    print(machine_speed())
    print(f"agent swarm: {args.agents} agents, {args.interval} s heartbeats, {connection.vendor}, "
          f"channel layer {'redis' if os.environ.get('REDIS_URL') else 'in-process'}, "
          f"{args.web_processes} web processes")
    fleet = Fleet(free_port(), args.interval, args.web_processes)
    fleet.start()
    try:
        tokens = _enroll_all(f"http://127.0.0.1:{fleet.port}", enrollment_token, args.agents)
        _swarm(tokens, fleet, args.seconds, args.ramp, args.client_processes, args.restart_during_backlog,
               args.restarts, watched, args.watch_rounds)
        if args.footprint_seconds > 0:
            fleet.interval = 30
            fleet.stop()
            fleet.start()
            _agent_footprint(fleet, args.footprint_seconds)
    finally:
        fleet.stop()
        print(f"  server errors logged: {fleet.log_summary()} (log: {fleet.log_path})")


if __name__ == "__main__":
    main()
