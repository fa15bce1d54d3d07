"""Benchmark: a swarm of simulated agents (same protocol as the real one) against a real daphne.

Prints connect rate, heartbeat-ack p50/p99, the server's CPU and memory, and how a reconnect storm
after a server restart went. Then measures the real agent's own footprint at a 30 s interval.
Usage: ``python -m tests.bench.agent_swarm [--agents N] [--seconds S] [--interval S]``.
Uses a throw-away database: a fresh SQLite file, or ``DATABASE_URL`` (emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from realtime.server import daphne_command
from tests.bench.environment import set_up_django

REPO = Path(__file__).resolve().parents[2]




def _seed(agent_count: int, interval: int) -> list[str]:
    """Devices with agent tokens, written directly (enrolling 5,000 agents is not what is measured)."""
    from django.core.management import call_command

    from portal.accounts.tokens import digest_secret, format_token, new_token_parts
    from portal.inventory.models import AgentCredential, Device
    from portal.tenancy.models import Company, Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    companies = Company.objects.bulk_create([Company(name=f"Client {n:03d}") for n in range(50)])
    sites = Site.objects.bulk_create([Site(company=c, name="HQ") for c in companies])
    devices = Device.objects.bulk_create(
        [Device(company_id=sites[n % 50].company_id, site=sites[n % 50], hostname=f"agent-{n:05d}", os_type="linux",
                heartbeat_interval=interval)
         for n in range(agent_count)], batch_size=1000)
    tokens, credentials = [], []
    for device in devices:
        parts = new_token_parts()
        tokens.append(format_token(parts, prefix="fwa"))
        credentials.append(AgentCredential(device=device, key_id=parts.key_id,
                                           secret_digest=digest_secret(parts.secret)))
    AgentCredential.objects.bulk_create(credentials, batch_size=1000)
    return tokens


class Server:
    def __init__(self, port: int, interval: int) -> None:
        self.port = port
        self.interval = interval
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "FLEETWATCH_HEARTBEAT_SECONDS": str(self.interval), "FLEETWATCH_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(
            daphne_command(host="127.0.0.1", port=self.port), cwd=REPO, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health/", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # thousands of sockets closing can outlast a polite stop
                self.process.kill()
                self.process.wait()


class SimulatedAgent:
    """Speaks the agent protocol: hello, then a heartbeat every interval; reconnects with jittered backoff."""

    def __init__(self, token: str, url: str, stats: dict) -> None:
        self.token = token
        self.url = url
        self.stats = stats
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event, first_delay: float) -> None:
        import websockets

        await asyncio.sleep(first_delay)
        backoff = 0.5
        while not stop.is_set():
            in_session = False
            try:
                async with websockets.connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                              open_timeout=30, ping_interval=None) as socket:
                    await socket.send(json.dumps({"type": "hello", "agent_version": "swarm"}))
                    welcome = json.loads(await socket.recv())
                    interval = welcome["heartbeat_interval"]
                    in_session = True
                    self.stats["connects"] += 1
                    self.connected.set()
                    backoff = 0.5
                    await asyncio.sleep(random.uniform(0, interval))
                    seq = 0
                    while not stop.is_set():
                        seq += 1
                        sent = time.perf_counter()
                        await socket.send(json.dumps({"type": "heartbeat", "seq": seq,
                                                      "metrics": {"cpu_percent": 3.0, "memory_percent": 40.0}}))
                        while True:
                            frame = json.loads(await socket.recv())
                            if frame.get("type") == "ack" and frame.get("seq") == seq:
                                break
                        if self.stats["measuring"]:
                            self.stats["acks"].append((time.perf_counter() - sent) * 1000)
                        await asyncio.sleep(interval)
            except Exception as error:  # retried like the real agent; failed connects are counted
                self.connected.clear()
                if not in_session:  # a lost session is expected on restart; a refused connect is not
                    key = "failed_while_up" if self.stats["server_up"] else "failed_while_down"
                    self.stats[key] += 1
                    if self.stats["server_up"]:
                        name = type(error).__name__
                        self.stats["errors"][name] = self.stats["errors"].get(name, 0) + 1
                await asyncio.sleep(random.uniform(backoff / 2, backoff))
                backoff = min(10.0, backoff * 2)


def _cpu_share(before, after, seconds: float) -> float:
    """Percent of one core used between two psutil cpu_times() readings."""
    return ((after.user + after.system) - (before.user + before.system)) / seconds * 100


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


async def _swarm(tokens: list[str], server: Server, seconds: float, ramp: float) -> None:
    import psutil

    url = f"ws://127.0.0.1:{server.port}/ws/agent/"
    stats = {"connects": 0, "acks": [], "measuring": False, "server_up": True, "failed_while_up": 0,
             "failed_while_down": 0, "errors": {}}
    stop = asyncio.Event()
    agents = [SimulatedAgent(token, url, stats) for token in tokens]
    started = time.perf_counter()
    tasks = [asyncio.create_task(agent.run(stop, random.uniform(0, ramp))) for agent in agents]
    while sum(agent.connected.is_set() for agent in agents) < len(agents):
        await asyncio.sleep(0.25)
        if time.perf_counter() - started > ramp + 120:
            break
    connect_seconds = time.perf_counter() - started
    connected = sum(agent.connected.is_set() for agent in agents)
    print(f"  connected {connected}/{len(agents)} agents in {connect_seconds:.1f} s (ramp {ramp:.0f} s): "
          f"{connected / connect_seconds:.0f} connects/s, {stats['failed_while_up']} failed attempts "
          f"{stats['errors'] or ''}")

    process = psutil.Process(server.process.pid)
    me = psutil.Process()
    cpu_before = process.cpu_times()
    my_cpu_before = me.cpu_times()
    stats["measuring"] = True
    measured_from = time.perf_counter()
    await asyncio.sleep(seconds)
    stats["measuring"] = False
    elapsed = time.perf_counter() - measured_from
    cpu_after = process.cpu_times()
    my_cpu_after = me.cpu_times()
    cpu_share = _cpu_share(cpu_before, cpu_after, elapsed)
    client_share = _cpu_share(my_cpu_before, my_cpu_after, elapsed)
    acks = stats["acks"]
    print(f"  steady state, {seconds:.0f} s: {len(acks)} heartbeats acked, p50 {_percentile(acks, 0.5):.1f} ms, "
          f"p99 {_percentile(acks, 0.99):.1f} ms; daphne CPU {cpu_share:.1f}% of one core, "
          f"RSS {process.memory_info().rss / 2**20:.0f} MB (the simulated agents used {client_share:.0f}% of one core)")

    # Reconnect storm: restart the server; every agent reconnects at once, with jittered backoff.
    stats["failed_while_up"] = stats["failed_while_down"] = 0
    stats["errors"] = {}
    stats["server_up"] = False
    server.stop()
    await asyncio.sleep(1)
    server.start()
    stats["server_up"] = True
    restarted = time.perf_counter()
    stats["connects"] = 0
    for agent in agents:
        agent.connected.clear()
    while stats["connects"] < len(agents) and time.perf_counter() - restarted < 180:
        await asyncio.sleep(0.25)
    storm = time.perf_counter() - restarted
    print(f"  reconnect storm after a restart: {stats['connects']}/{len(agents)} back in {storm:.1f} s; "
          f"failed attempts while the server was up: {stats['failed_while_up']} {stats['errors'] or ''}")
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _agent_footprint(server: Server, seconds: float) -> None:
    """The real agent at a 30 s interval: resident memory and average CPU share of one core."""
    import psutil

    from portal.access import system_actor
    from portal.inventory.enrollment import create_enrollment_token
    from portal.tenancy.models import Site

    token = create_enrollment_token(actor=system_actor(), site=Site.objects.first(), name="footprint").plaintext
    with tempfile.TemporaryDirectory() as state:
        config = Path(state) / "agent.toml"
        config.write_text(f'state_dir = "{state}/s"\nlog_level = "WARNING"\n')
        agent = [sys.executable, "-m", "fleetwatch_agent", "--config", str(config)]
        subprocess.run([*agent, "enroll", "--server", f"http://127.0.0.1:{server.port}", "--token", token],
                       check=True, capture_output=True)
        process = subprocess.Popen([*agent, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        watched = psutil.Process(process.pid)
        time.sleep(15)  # start-up and the first inventory are not the steady state
        before = watched.cpu_times()
        time.sleep(seconds)
        after = watched.cpu_times()
        share = _cpu_share(before, after, seconds)
        print(f"  real agent at a 30 s interval: RSS {watched.memory_info().rss / 2**20:.1f} MB, "
              f"CPU {share:.2f}% of one core (over {seconds:.0f} s)")
        process.terminate()
        process.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60, help="steady-state measurement window")
    parser.add_argument("--interval", type=int, default=30, help="heartbeat interval the server asks for")
    parser.add_argument("--ramp", type=float, default=30, help="agents connect spread over this many seconds")
    parser.add_argument("--footprint-seconds", type=float, default=60)
    args = parser.parse_args()
    set_up_django()
    from django.db import connection

    from tests.live import free_port

    tokens = _seed(args.agents, args.interval)
    print(f"agent swarm: {args.agents} agents, {args.interval} s heartbeats, {connection.vendor}, "
          f"channel layer {'redis' if os.environ.get('REDIS_URL') else 'in-process'}")
    server = Server(free_port(), args.interval)
    server.start()
    try:
        asyncio.run(_swarm(tokens, server, args.seconds, args.ramp))
        if args.footprint_seconds > 0:
            server.interval = 30
            server.stop()
            server.start()
            _agent_footprint(server, args.footprint_seconds)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
