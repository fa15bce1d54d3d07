"""One agent token cannot flood the server: one socket per device (a newer one replaces the older, in any
process), connects, HTTP heartbeats, inventories and enrollments are rate-limited, inventories are capped
per kind, their history per inventory and in time. Before: unlimited sockets per device, an unlimited
HTTP fallback, 20,000-item inventories writing up to 60,000 history rows a frame, history never pruned."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import timedelta

import pytest
import websockets
from django.test import Client
from django.utils import timezone

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token, enroll_agent
from portal.inventory.models import Device, InstalledSoftware, InventoryChange, MetricSample
from portal.inventory.telemetry import HEARTBEATS, MAX_CHANGES_PER_INVENTORY, apply_inventory, prune_inventory_history
from realtime.agent_protocol import INVENTORY_LIMITS
from tests.live import in_thread, wait_for

HASH = "a" * 64


def _enrolled(tenant, hostname: str) -> tuple[int, str]:
    issued = create_enrollment_token(actor=system_actor(), site=tenant.site, name="flood tests")
    enrollment = enroll_agent(enrollment_token=issued.plaintext, facts={"hostname": hostname, "os_type": "linux"})
    return enrollment.device.pk, enrollment.agent_token


async def _open(server, token: str):
    return await websockets.connect(f"{server.ws_url}/ws/agent/", max_size=4 * 2**20,
                                    additional_headers={"Authorization": f"Bearer {token}"})


async def _frame(socket, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def _hello(socket) -> dict:
    await socket.send(json.dumps({"type": "hello", "agent_version": "test", "capabilities": ["heartbeat"]}))
    return await _frame(socket)


@pytest.mark.django_db(transaction=True)
def test_a_second_socket_of_the_same_device_replaces_the_first(live_daphne, tenant_a):
    device_id, token = _enrolled(tenant_a, "cloned")

    async def scenario():
        first = await _open(live_daphne, token)
        assert (await _hello(first))["type"] == "welcome"
        second = await _open(live_daphne, token)
        assert (await _hello(second))["type"] == "welcome"
        error = await _frame(first)
        try:
            await asyncio.wait_for(first.recv(), 5)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code
        await second.send(json.dumps({"type": "heartbeat", "seq": 1, "metrics": {}}))
        ack = await _frame(second)
        await asyncio.sleep(0.5)  # the first socket's disconnect has been handled by now
        status = await asyncio.to_thread(lambda: Device.objects.get(pk=device_id).status)
        await second.close()
        return error, code, ack, status

    error, code, ack, status = asyncio.run(scenario())
    assert error["code"] == "replaced" and code == 4409 and ack == {"type": "ack", "seq": 1}
    assert status == "online"  # the old socket's close did not take the device offline


@pytest.mark.django_db(transaction=True)
def test_a_server_that_stops_releases_the_devices_it_held(live_daphne, tenant_a):
    device_id, token = _enrolled(tenant_a, "held-at-shutdown")

    def row() -> tuple[str, str, str]:
        device = Device.objects.get(pk=device_id)
        return device.agent_connection, device.agent_channel, device.status

    async def scenario():
        socket = await _open(live_daphne, token)
        assert (await _hello(socket))["type"] == "welcome"
        held = await in_thread(row)
        await asyncio.to_thread(live_daphne.stop)  # SIGTERM, as a service manager stops it
        await socket.close()
        return held, await in_thread(row)

    held, released = asyncio.run(scenario())
    assert held[0] and held[1].startswith("specific.")
    # Its next hello (after the restart) has no older socket to announce it replaced; it stays online
    # until its agent comes back or misses its heartbeats.
    assert released == ("", "", "online")


@pytest.mark.django_db(transaction=True)
def test_connects_per_device_are_limited(live_daphne, tenant_a):
    _, token = _enrolled(tenant_a, "reconnect-loop")

    async def scenario() -> list[int]:
        outcomes = []
        for _ in range(22):
            try:
                socket = await _open(live_daphne, token)
                await socket.close()
                outcomes.append(101)
            except websockets.InvalidStatus as refused:
                outcomes.append(refused.response.status_code)
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes[:20] == [101] * 20 and outcomes[20:] == [403, 403]


@pytest.mark.django_db(transaction=True)
def test_a_socket_that_never_says_hello_is_closed(live_daphne, tenant_a, monkeypatch):
    _, token = _enrolled(tenant_a, "silent")

    async def scenario():
        socket = await _open(live_daphne, token)
        try:
            await asyncio.wait_for(socket.recv(), 25)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code

    assert asyncio.run(scenario()) == 4408


@pytest.mark.django_db
def test_the_http_fallback_and_enrollment_are_rate_limited(tenant_a):
    _, token = _enrolled(tenant_a, "behind-a-proxy")
    client = Client()
    body = json.dumps({"type": "heartbeat", "seq": 0, "metrics": {"cpu_percent": 3}})
    answers = [client.post("/api/agent/heartbeat/", body, content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"}) for _ in range(13)]
    assert [a.status_code for a in answers] == [200] * 12 + [429]
    assert answers[-1].json()["error"] == "rate_limited" and int(answers[-1]["Retry-After"]) >= 1
    address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"  # counters are shared: a fresh address
    enrollments = [client.post("/api/agent/enroll/", json.dumps({"token": "fwe_garbage", "facts": {}}),
                               content_type="application/json", REMOTE_ADDR=address) for _ in range(31)]
    assert [a.status_code for a in enrollments] == [403] * 30 + [429]


@pytest.mark.django_db(transaction=True)
def test_oversized_inventories_are_refused_and_nothing_is_lost(live_daphne, tenant_a):
    device_id, token = _enrolled(tenant_a, "flooder")
    apply_inventory(device_id=device_id, content_hash="b" * 64,
                    data={"software": [{"name": "bash", "version": "5.2", "source": "dpkg"}]})
    limit = INVENTORY_LIMITS["software"]

    async def scenario():
        socket = await _open(live_daphne, token)
        await _hello(socket)
        software = [{"name": f"pkg-{n}", "version": "1", "source": "dpkg"} for n in range(limit + 1)]
        await socket.send(json.dumps({"type": "inventory", "hash": HASH, "data": {"software": software}}))
        refused = await _frame(socket, 15)
        answers = []
        for n in range(4):  # within the limit, but more often than once a minute
            await socket.send(json.dumps({"type": "inventory", "hash": f"{n}" * 64, "data": {"software": []}}))
            answers.append(await _frame(socket, 15))
        await socket.close()
        return refused, answers

    refused, answers = asyncio.run(scenario())
    assert refused["code"] == "invalid_field" and f"at most {limit:,}" in refused["message"]
    assert [a["type"] for a in answers] == ["inventory_stored"] * 3 + ["error"]
    assert answers[-1]["code"] == "rate_limited"


@pytest.mark.django_db
def test_history_per_inventory_is_bounded_and_pruned(tenant_a):
    device = tenant_a.device
    apply_inventory(device_id=device.pk, content_hash="c" * 64, data={"software": []})
    software = [{"name": f"pkg-{n}", "version": "1", "source": "dpkg"} for n in range(4_000)]
    apply_inventory(device_id=device.pk, content_hash="d" * 64, data={"software": software})
    assert InstalledSoftware.objects.filter(device=device).count() == 4_000  # the inventory itself is whole
    changes = InventoryChange.objects.filter(device=device)
    assert changes.count() == MAX_CHANGES_PER_INVENTORY
    assert changes.filter(change="more").get().name.startswith("2,001 more changes")
    InventoryChange.objects.filter(device=device).update(at=timezone.now() - timedelta(days=181))
    assert prune_inventory_history() == MAX_CHANGES_PER_INVENTORY and not InventoryChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_heartbeats_faster_than_the_interval_are_answered_but_not_all_kept(live_daphne, tenant_a):
    device_id, token = _enrolled(tenant_a, "chatty")
    Device.objects.filter(pk=device_id).update(heartbeat_interval=30)

    async def scenario():
        socket = await _open(live_daphne, token)
        await _hello(socket)
        acks = []
        for seq in range(10):
            await socket.send(json.dumps({"type": "heartbeat", "seq": seq, "metrics": {"cpu_percent": seq}}))
            acks.append((await _frame(socket))["seq"])
        await socket.close()
        return acks

    assert asyncio.run(scenario()) == list(range(10))
    HEARTBEATS.flush()
    wait_for(lambda: MetricSample.objects.filter(device_id=device_id).exists(), what="the first sample stored")
    assert MetricSample.objects.filter(device_id=device_id).count() == 1


@pytest.mark.django_db
def test_a_roll_out_behind_one_address_is_not_throttled_but_guesses_are(tenant_a, monkeypatch):
    """Only refused enrollments count against an address: 40 good ones pass, then 30 guesses close it."""
    import time
    from types import SimpleNamespace

    from portal import ratelimit
    from portal.access import system_actor
    from portal.inventory.enrollment import create_enrollment_token

    # One fixed minute: the counters are fixed windows, and a run crossing a minute's end would start afresh.
    frozen = (time.time() // 60) * 60 + 1
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: frozen))

    token = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="GPO roll-out").plaintext
    client = Client()
    address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"

    def enroll(value: str, n: int):
        return client.post("/api/agent/enroll/", json.dumps({"token": value, "facts": {"hostname": f"pc-{n}"}}),
                           content_type="application/json", REMOTE_ADDR=address).status_code

    assert [enroll(token, n) for n in range(40)] == [201] * 40
    assert [enroll("fwe_guess", n) for n in range(31)] == [403] * 30 + [429]
    assert enroll(token, 99) == 429  # the address is closed for the rest of the window
