"""Under daphne, the agents' HTTP paths run their middleware and view as one call on the agent sockets'
database threads, not as some thirty hops to Channels' one sync thread."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading

import pytest
from channels.testing import HttpCommunicator

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token
from portal.inventory.models import Device
from realtime import agent_http
from realtime.agent_http_handler import AgentHttpHandler, is_agent_http

pytestmark = pytest.mark.django_db(transaction=True)


def _post(path: str, body: dict) -> dict:
    from portal.asgi import application

    communicator = HttpCommunicator(application, "POST", path, body=json.dumps(body).encode(),
                                    headers=[(b"content-type", b"application/json"), (b"host", b"testserver")])
    return asyncio.run(communicator.get_response(timeout=10))


def test_the_agent_paths_go_to_the_sync_chain_and_nothing_else_does():
    assert is_agent_http({"type": "http", "path": "/api/agent/enroll/"})
    assert is_agent_http({"type": "http", "path": "/api/agent/heartbeat/"})
    assert not is_agent_http({"type": "http", "path": "/graphql/"})
    assert not is_agent_http({"type": "websocket", "path": "/api/agent/enroll/"})
    assert not inspect.iscoroutinefunction(AgentHttpHandler()._middleware_chain)


def test_an_enrollment_through_the_asgi_application_runs_on_an_agent_database_thread(tenant_a, monkeypatch):
    issued = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="rollout", max_uses=5)
    threads: list[str] = []
    original = agent_http.enroll_agent

    def recording(**kwargs):
        threads.append(threading.current_thread().name)
        return original(**kwargs)

    monkeypatch.setattr(agent_http, "enroll_agent", recording)
    response = _post("/api/agent/enroll/", {"token": issued.plaintext,
                                            "facts": {"hostname": "gpo-pc", "os_type": "windows"}})
    assert response["status"] == 201, response["body"]
    device_id = json.loads(response["body"])["device_id"]
    assert Device.objects.get(pk=device_id).hostname == "gpo-pc"
    assert threads and threads[0].startswith("fleetwatch-agent-db")
    # The middleware chain still runs: the security headers are set, and a refusal is a clear JSON error.
    assert (b"x-content-type-options", b"nosniff") in [(k.lower(), v) for k, v in response["headers"]]
    refused = _post("/api/agent/enroll/", {"token": "fwe_nonsense", "facts": {}})
    assert refused["status"] == 403 and json.loads(refused["body"])["error"] == "enrollment_refused"
