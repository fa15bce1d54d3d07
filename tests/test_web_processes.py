"""Several daphne processes are full peers: an agent may sit on any of them, and a push, a delivery or a
revocation made anywhere (a task worker, a request served by the other process) reaches its socket.

Runs in both modes: embedded (the processes share SQLite and relay the event table) and PostgreSQL +
Redis (the channel layer carries the messages)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from django.db import connection

from portal.access import actor_for_user
from portal.accounts.services import create_api_token
from portal.actions.models import ActionStatus
from tests.actions.agent_harness import AgentHandle, device_status, wait_for_status
from tests.graphql_client import global_id
from tests.live import REPO, LiveServer, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers(transactional_db):
    servers = [LiveServer(FLEETWATCH_HEARTBEAT_SECONDS="1") for _ in range(2)]
    for server in servers:
        server.start()
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
            print(server.log())
            server.log_path.unlink(missing_ok=True)


@pytest.fixture
def agents_on_each(two_servers, tenant_a, tmp_path):
    handles = []
    for number, server in enumerate(two_servers):
        directory = tmp_path / f"agent-{number}"
        directory.mkdir()
        handle = AgentHandle(directory=directory, server_url=server.url, site=tenant_a.site)
        handle.start()
        handles.append(handle)
    yield handles
    for handle in handles:
        if handle.process is not None and handle.process.poll() is None:
            handle.process.kill()
            handle.process.wait(timeout=10)
        print(handle.log())


def _queue_script_in_a_worker(device_id: int) -> int:
    """Queue an action from a separate process, as a django-q2 worker or a command would."""
    code = (
        "from portal.access import system_actor\n"
        "from portal.actions.requests import queue_action\n"
        "from portal.actions.specs import script_spec\n"
        "from portal.inventory.models import Device\n"
        "actor = system_actor('worker')\n"
        "spec = script_spec(actor=actor, inline_content='echo from-a-worker', inline_language='bash')\n"
        f"print(queue_action(actor=actor, device=Device.objects.get(pk={device_id}), spec=spec).pk)\n"
    )
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], cwd=REPO,
                            env=process_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


def test_a_push_from_a_worker_reaches_an_agent_on_either_process(agents_on_each):
    from portal.actions.models import Action

    for agent in agents_on_each:
        action = Action.objects.get(pk=_queue_script_in_a_worker(agent.device.pk))
        done = wait_for_status(action, ActionStatus.SUCCEEDED, timeout=30)
        assert done.stdout == "from-a-worker\n"


def test_a_revocation_served_by_one_process_closes_the_socket_held_by_the_other(two_servers, agents_on_each,
                                                                               admin_a):
    """The request goes to the first daphne; the agent it revokes is connected to the second."""
    revoked, bystander = agents_on_each[1], agents_on_each[0]
    token = create_api_token(actor=actor_for_user(admin_a), name="multi-process").plaintext
    body = json.dumps({"query": "mutation ($id: ID!) { revokeDeviceAgent(input: {id: $id}) { errors { code } } }",
                       "variables": {"id": global_id("Device", revoked.device.pk)}}).encode()
    request = urllib.request.Request(f"{two_servers[0].url}/graphql/", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["data"]["revokeDeviceAgent"]["errors"] == []
    wait_for(lambda: device_status(revoked.device.pk) == "offline", timeout=15,
             what="the revoked agent's socket on the other process to close")
    wait_for(lambda: "revoked" in revoked.log(), timeout=15, what="the agent to be told it was revoked")
    connection.close()
    assert device_status(bystander.device.pk) == "online"
