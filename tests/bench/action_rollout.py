"""Benchmark: a 5-task deployment profile applied to 1,000 online (simulated) agents on `manage.py run_fleet`
(one daphne per core), the agents enrolled through the API.

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
import os
import time

from tests.bench.agent_swarm import Fleet, _cpu_seconds, _enroll_all, _seed_site
from tests.bench.environment import machine_speed, set_up_django

TASKS = 5


async def _agent(token: str, number: int, url: str, public_key, received: list[float], connected: list[int],
                 stop: asyncio.Event) -> None:
    import websockets

    from portal.actions.signing import canonical_json
    from tests.bench.inventories import inventory_frame

    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=60,
                                  ping_interval=20, ping_timeout=60, max_size=8 * 2**20) as socket:
        await socket.send(json.dumps({"type": "hello", "agent_version": "bench",
                                      "capabilities": ["heartbeat", "inventory", "actions"]}))
        welcome = json.loads(await socket.recv())
        content_hash, frame = inventory_frame(number)
        if welcome.get("inventory_hash") != content_hash:  # as the real agent: its inventory when the server lacks it
            await socket.send(frame)
        del frame
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


async def _measure(tokens: list[str], fleet: Fleet) -> None:
    from asgiref.sync import sync_to_async
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from portal.access import system_actor
    from portal.actions.models import FINISHED, Action
    from portal.actions.requests import apply_profile
    from portal.actions.signing import public_key_text
    from portal.inventory.models import Device, DeviceInventory

    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_text()))
    url = f"ws://127.0.0.1:{fleet.port}/ws/agent/"
    received: list[float] = []
    connected: list[int] = []
    stop = asyncio.Event()
    tasks = []
    for number, token in enumerate(tokens):
        tasks.append(asyncio.create_task(_agent(token, number, url, public_key, received, connected, stop)))
        await asyncio.sleep(0.005)
    while len(connected) < len(tokens):
        await asyncio.sleep(0.2)
    stored = sync_to_async(DeviceInventory.objects.count)
    while await stored() < len(tokens):  # the first inventories land before the roll-out is measured
        await asyncio.sleep(0.5)
    profile = await sync_to_async(_profile)()
    await asyncio.sleep(2)
    web = fleet.web()
    cpu_before = _cpu_seconds(web)
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
    cpu = 100 * (_cpu_seconds(web) - cpu_before) / done
    print(f"  queued {total} actions ({len(tokens)} devices x {TASKS} tasks) in {queued:.2f} s "
          f"({total / queued:.0f} actions/s, signed at delivery)")
    print(f"  every agent had its first task after {first_round or float('nan'):.2f} s; "
          f"all {len(received)}/{total} delivered after {delivered:.2f} s; "
          f"{finished_count}/{total} results stored after {done:.2f} s; {len(web)} web processes used "
          f"{cpu:.0f}% of one core in all")
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    from realtime.server import web_process_count

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--web-processes", type=int, default=web_process_count(),
                        help="daphne processes run_fleet starts (default: one per core)")
    args = parser.parse_args()
    set_up_django()
    from django.db import connection

    from tests.live import free_port

    enrollment_token = _seed_site(300)
    connection.close()
    print(machine_speed())
    print(f"action roll-out: {args.devices} devices, {TASKS}-task profile, {connection.vendor}, "
          f"{'Redis' if os.environ.get('REDIS_URL') else 'embedded'} layer, {args.web_processes} web processes")
    fleet = Fleet(free_port(), 300, args.web_processes)
    fleet.start()
    try:
        tokens = _enroll_all(f"http://127.0.0.1:{fleet.port}", enrollment_token, args.devices)
        asyncio.run(_measure(tokens, fleet))
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
