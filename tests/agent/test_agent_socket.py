"""The agent socket against a real daphne: handshake refusals, protocol errors, garbage, rate limits."""

import asyncio
import json

import pytest
import websockets

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token, enroll_agent
from portal.inventory.models import Device
from tests.live import in_thread, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _enrolled_token(tenant, hostname: str) -> tuple[int, str]:
    issued = create_enrollment_token(actor=system_actor(), site=tenant.site, name="socket tests")
    enrollment = enroll_agent(enrollment_token=issued.plaintext, facts={"hostname": hostname, "os_type": "linux"})
    return enrollment.device.pk, enrollment.agent_token


async def _open(server, token: str | None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await websockets.connect(f"{server.ws_url}/ws/agent/", additional_headers=headers, max_size=4 * 2**20)


async def _frame(socket, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


def test_handshake_needs_a_valid_agent_token(live_daphne, tenant_a, operator_a):
    from portal.access import actor_for_user
    from portal.accounts.services import create_api_token

    api_token = create_api_token(actor=actor_for_user(operator_a), name="not an agent").plaintext
    from django.test import Client

    browser = Client()
    browser.force_login(operator_a)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    async def attempt(token, **headers):
        socket = await _open(live_daphne, token, **headers)
        await socket.close()

    for token, headers in ((None, {}), ("fwa_garbage", {}), (api_token, {}),
                           (None, {"Cookie": cookie, "Origin": live_daphne.url})):
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(attempt(token, **headers))
        assert refused.value.response.status_code == 403


def test_protocol_errors_get_error_frames_and_garbage_closes_4008(live_daphne, tenant_a):
    device_id, token = _enrolled_token(tenant_a, "fuzz-target")
    _, good_token = _enrolled_token(tenant_a, "bystander")

    async def scenario():
        good = await _open(live_daphne, good_token)
        await good.send(json.dumps({"type": "hello", "agent_version": "test"}))
        assert (await _frame(good))["type"] == "welcome"

        bad = await _open(live_daphne, token)
        await bad.send(json.dumps({"type": "heartbeat", "seq": 1}))
        codes = [(await _frame(bad))["code"]]  # hello first
        await bad.send(json.dumps({"type": "hello", "agent_version": "test"}))
        assert (await _frame(bad))["type"] == "welcome"
        garbage = ["{not json", json.dumps([1, 2]), json.dumps({"type": "format_disk"}),
                   json.dumps({"type": "heartbeat", "seq": "one"}), "x" * (1024 * 1024 + 1)]
        for text in garbage[:3]:
            await bad.send(text)
            codes.append((await _frame(bad))["code"])
        await bad.send(b"\x00\x01binary")
        codes.append((await _frame(bad))["code"])
        await bad.send(json.dumps({"type": "heartbeat", "seq": 1, "metrics": {"cpu_percent": "lots"}}))
        assert (await _frame(bad)) == {"type": "ack", "seq": 1}  # a good frame resets the garbage count
        close_code = None
        try:
            bad_hash = json.dumps({"type": "inventory", "hash": "not-a-digest", "data": {}})
            for text in [*garbage[:4], bad_hash]:  # one at a time, so the close cannot race a send
                await bad.send(text)
                codes.append((await _frame(bad))["code"])
            await _frame(bad)
        except websockets.ConnectionClosed as closed:
            close_code = closed.rcvd.code if closed.rcvd else None
        # the server kept serving the other agent throughout
        await good.send(json.dumps({"type": "heartbeat", "seq": 5, "metrics": {"cpu_percent": 3}}))
        assert await _frame(good) == {"type": "ack", "seq": 5}
        await good.close()
        return codes, close_code

    codes, close_code = asyncio.run(scenario())
    assert codes[:5] == ["hello_first", "malformed_json", "not_an_object", "unknown_type", "binary_frame"]
    assert codes[5:] == ["malformed_json", "not_an_object", "unknown_type", "invalid_field", "invalid_field"]
    assert close_code == 4008  # policy violation (1008 is not open to applications under daphne)
    wait_for(lambda: Device.objects.get(pk=device_id).status == "offline", timeout=10, what="offline after close")


def test_oversized_frames_end_the_socket_not_the_server(live_daphne, tenant_a):
    _, token = _enrolled_token(tenant_a, "oversized")
    _, good_token = _enrolled_token(tenant_a, "bystander")

    async def scenario():
        good = await _open(live_daphne, good_token)
        await good.send(json.dumps({"type": "hello", "agent_version": "test"}))
        await _frame(good)
        bad = await _open(live_daphne, token)
        await bad.send(json.dumps({"type": "hello", "agent_version": "test"}))
        await _frame(bad)
        with pytest.raises(websockets.ConnectionClosed):
            await bad.send(json.dumps({"type": "inventory", "hash": "0" * 64, "data": {"x": "y" * 2**20}}))
            await _frame(bad)
        await good.send(json.dumps({"type": "heartbeat", "seq": 9, "metrics": {}}))
        assert await _frame(good) == {"type": "ack", "seq": 9}
        await good.close()

    asyncio.run(scenario())


def test_flooding_is_rate_limited(live_daphne, tenant_a):
    _, token = _enrolled_token(tenant_a, "flooder")

    async def scenario():
        socket = await _open(live_daphne, token)
        await socket.send(json.dumps({"type": "hello", "agent_version": "test"}))
        await _frame(socket)
        for seq in range(60):
            await socket.send(json.dumps({"type": "heartbeat", "seq": seq, "metrics": {}}))
        kinds = []
        try:
            while True:
                frame = await _frame(socket, timeout=3)
                kinds.append(frame.get("code") or frame["type"])
        except (TimeoutError, websockets.ConnectionClosed):
            pass
        await socket.close()
        return kinds

    kinds = asyncio.run(scenario())
    assert "rate_limited" in kinds and kinds.count("ack") < 60


def test_deleting_a_device_closes_its_socket(live_daphne, tenant_a):
    from portal.inventory.services import delete_device

    device_id, token = _enrolled_token(tenant_a, "doomed")

    async def scenario():
        socket = await _open(live_daphne, token)
        await socket.send(json.dumps({"type": "hello", "agent_version": "test"}))
        await _frame(socket)
        await in_thread(lambda: delete_device(actor=system_actor(), device=Device.objects.get(pk=device_id)))
        frames = []
        try:
            while True:
                frames.append(await _frame(socket, timeout=10))
        except websockets.ConnectionClosed as closed:
            return frames, closed.rcvd.code

    frames, code = asyncio.run(scenario())
    assert code == 4401 and frames[-1]["code"] == "revoked"


def test_a_changed_interval_reaches_the_connected_agent(live_daphne, tenant_a):
    from portal.inventory.services import update_device

    device_id, token = _enrolled_token(tenant_a, "tunable")

    async def scenario():
        socket = await _open(live_daphne, token)
        await socket.send(json.dumps({"type": "hello", "agent_version": "test"}))
        await _frame(socket)
        await in_thread(lambda: update_device(actor=system_actor(), device=Device.objects.get(pk=device_id),
                                                      heartbeat_interval=120))
        frame = await _frame(socket, timeout=10)
        await socket.close()
        return frame

    assert asyncio.run(scenario()) == {"type": "config", "heartbeat_interval": 120}


def test_update_scan_reports_are_checked_and_stored(live_daphne, tenant_a):
    device_id, token = _enrolled_token(tenant_a, "scanner")

    async def scenario():
        socket = await _open(live_daphne, token)
        await socket.send(json.dumps({"type": "hello", "agent_version": "test"}))
        assert (await _frame(socket))["type"] == "welcome"
        codes = []
        for bad in ({"scanned_at": "yesterday"}, {"scanned_at": 1.7e9, "reboot_required": "maybe"},
                    {"scanned_at": 1.7e9, "error": 42}, {}):
            await socket.send(json.dumps({"type": "update_scan", **bad}))
            codes.append((await _frame(socket))["code"])
        await socket.send(json.dumps({"type": "update_scan", "scanned_at": 1_800_000_000, "error": "",
                                      "reboot_required": True}))
        await in_thread(lambda: wait_for(lambda: Device.objects.get(pk=device_id).updates_scanned_at, timeout=10,
                                         what="the scan stored"))
        await socket.close()
        return codes

    assert asyncio.run(scenario()) == ["invalid_field"] * 4
    device = Device.objects.get(pk=device_id)
    assert device.updates_scanned_at.timestamp() == 1_800_000_000 and device.reboot_pending_since is not None
