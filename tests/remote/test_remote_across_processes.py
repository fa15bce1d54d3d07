"""A session whose browser and agent sit on different server processes: the agent connects to one daphne, the
technician's socket to another, and the terminal still answers — through channels-redis with Redis, through
the processes' Unix sockets embedded. A browser that stops reading pauses the shell, not the agent's
heartbeats."""

from __future__ import annotations

import asyncio
import json
import struct
import time

import pytest
import websockets
from django.db import connection

from portal.access import Role, actor_for_user
from portal.inventory.models import Device
from portal.remote import services
from portal.remote.models import RemoteSession
from tests import factories
from tests.actions.agent_harness import AgentHandle
from tests.live import LiveServer, in_thread, wait_for
from tests.remote.test_remote_end_to_end import TEST_SHELL, Browser, _cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_daphne(live_daphne):
    server = LiveServer(FLEETWATCH_HEARTBEAT_SECONDS="1")
    server.start()
    yield server
    server.stop()
    print(server.log())
    server.log_path.unlink(missing_ok=True)


def test_a_terminal_works_when_the_browser_and_the_agent_are_on_different_processes(
        live_daphne, second_daphne, tenant_a, tmp_path):
    technician = factories.UserFactory(username="far-tech", role=Role.OPERATOR, companies=[tenant_a.company],
                                       can_open_remote_sessions=True)
    agent = AgentHandle(directory=tmp_path / "agent", server_url=live_daphne.url, site=tenant_a.site)
    agent.start()
    try:
        wait_for(lambda: (connection.close() or Device.objects.get(pk=agent.device.pk).agent_channel),
                 what="the agent's channel")
        session = services.open_session(actor=actor_for_user(technician), device_id=agent.device.pk, kind="shell",
                                         shell=TEST_SHELL)
        headers = {"Cookie": _cookie(technician), "Origin": second_daphne.url}

        async def scenario():
            url = f"{second_daphne.ws_url}/ws/remote/{session.key}/"
            async with websockets.connect(url, additional_headers=headers) as socket:
                browser = Browser(socket)
                await browser.pump(lambda: browser.event("opened"))
                await browser.type("echo across-$((20+3))\r")
                await browser.pump(lambda: b"across-23" in browser.output)
                # Now a browser that stops reading (the shell floods) and claims to have taken far more than it
                # was sent: the claim is believed only up to what was sent.
                await socket.send(struct.pack(">BI", 1, 0) + b"yes flood-line\r")
                await socket.send(json.dumps({"op": "ack", "stream": 0, "bytes": 50_000_000}))
                await asyncio.sleep(1)
                seen_before = await in_thread(lambda: _last_seen(agent.device.pk))
                await asyncio.sleep(4)  # heartbeats every second go on while the stream is stalled
                return browser, seen_before, await in_thread(lambda: _last_seen(agent.device.pk))

        browser, seen_before, seen_after = asyncio.run(scenario())
        assert seen_after > seen_before  # the agent kept heartbeating behind a stalled terminal
        assert json.dumps(browser.events).count("error") == 0
        ended = wait_for(lambda: (connection.close() or RemoteSession.objects.filter(
            pk=session.pk, ended_at__isnull=False).first()), what="the session ended")
        # What left the agent while nobody read: at most the stream's window (and one chunk).
        assert ended.bytes_from_device - len(browser.output) <= 256 * 1024 + 64 * 1024
    finally:
        agent.process.kill()


def _last_seen(device_id: int) -> float:
    connection.close()
    return Device.objects.get(pk=device_id).last_seen.timestamp() if Device.objects.get(
        pk=device_id).last_seen else time.time() - 3600
