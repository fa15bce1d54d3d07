"""Benchmark: a 5-task deployment profile applied to 1,000 online (simulated) agents on a real daphne.

Prints the time to queue all 5,000 actions, the time until every agent received its first task, and
until all 5,000 were delivered and reported back (tasks run in order per device, so each delivery after
the first waits for the previous result). The simulated agents verify each Ed25519 signature and answer
at once, so the figures are the server's. Usage: ``python -m tests.bench.action_rollout [--devices N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time

from tests.bench.agent_swarm import Server, _cpu_share, _seed
from tests.bench.environment import set_up_django

TASKS = 5


async def _agent(token: str, url: str, public_key, received: list[float], connected: list[int],
                 stop: asyncio.Event) -> None:
    import websockets

    from portal.actions.signing import canonical_json

    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=60,
                                  ping_interval=None) as socket:
        await socket.send(json.dumps({"type": "hello", "agent_version": "bench", "capabilities": ["actions"]}))
        json.loads(await socket.recv())
        connected.append(1)
        while not stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 1))
            except TimeoutError:
                continue
            if frame.get("type") != "action":
                continue
            received.append(time.perf_counter())
            public_key.verify(base64.b64decode(frame["signature"]), canonical_json(frame["envelope"]))
            action_id = frame["envelope"]["action_id"]
            now = time.time()
            await socket.send(json.dumps({"type": "action_result", "action_id": action_id, "status": "succeeded",
                                          "exit_code": 0, "stdout": "ok\n", "stderr": "", "started_at": now,
                                          "finished_at": now, "result": {}}))


def _profile():
    from portal.access import system_actor
    from portal.actions import library

    actor = system_actor("bench")
    profile = library.create_profile(actor=actor, name="Bench rollout")
    for index in range(TASKS):
        script = library.create_script(actor=actor, name=f"bench step {index}", language="bash", content="true")
        library.add_profile_task(actor=actor, profile=profile, name=f"step {index}", action_type="run_script",
                                 script=script)
    return profile


async def _measure(tokens: list[str], server: Server) -> None:
    import psutil
    from asgiref.sync import sync_to_async
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from portal.access import system_actor
    from portal.actions.models import FINISHED, Action
    from portal.actions.requests import apply_profile
    from portal.actions.signing import public_key_text
    from portal.inventory.models import Device

    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_text()))
    url = f"ws://127.0.0.1:{server.port}/ws/agent/"
    received: list[float] = []
    connected: list[int] = []
    stop = asyncio.Event()
    tasks = []
    for token in tokens:
        tasks.append(asyncio.create_task(_agent(token, url, public_key, received, connected, stop)))
        await asyncio.sleep(0.005)
    while len(connected) < len(tokens):
        await asyncio.sleep(0.2)
    profile = await sync_to_async(_profile)()
    await asyncio.sleep(2)
    process = psutil.Process(server.process.pid)
    cpu_before = process.cpu_times()
    started = time.perf_counter()
    result = await sync_to_async(lambda: apply_profile(actor=system_actor("bench"), profile=profile,
                                                       devices=list(Device.objects.all())))()
    queued = time.perf_counter() - started
    total = result.queued
    first_round = None
    finished_count = 0
    deadline = started + 600
    while time.perf_counter() < deadline:
        if first_round is None and len(received) >= len(tokens):
            first_round = sorted(received)[len(tokens) - 1] - started
        if len(received) >= total:
            finished_count = await sync_to_async(Action.objects.filter(status__in=FINISHED).count)()
            if finished_count >= total:
                break
        await asyncio.sleep(0.1)
    done = time.perf_counter() - started
    delivered = (max(received) - started) if received else float("nan")
    cpu = _cpu_share(cpu_before, process.cpu_times(), done)
    print(f"  queued {total} actions ({len(tokens)} devices x {TASKS} tasks) in {queued:.2f} s "
          f"({total / queued:.0f} actions/s, signed at delivery)")
    print(f"  every agent had its first task after {first_round or float('nan'):.2f} s; "
          f"all {len(received)}/{total} delivered after {delivered:.2f} s; "
          f"{finished_count}/{total} results stored after {done:.2f} s; daphne CPU {cpu:.0f}% of one core")
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    args = parser.parse_args()
    set_up_django()
    from django.db import connection

    from tests.live import free_port

    tokens = _seed(args.devices, 300)
    print(f"action roll-out: {args.devices} devices, {TASKS}-task profile, {connection.vendor}, "
          f"{'Redis' if 'redis' in __import__('os').environ.get('REDIS_URL', '') else 'embedded'} layer")
    server = Server(free_port(), 300)
    server.start()
    try:
        asyncio.run(_measure(tokens, server))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
