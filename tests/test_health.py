"""``/api/health/``: 200 with every component's state when healthy, 503 naming the failing one."""

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest
import redis
from django.test import Client
from django_q.brokers.redis_broker import Redis as RedisBroker

from portal.health import check_task_queue
from tests.agent.test_agent_socket import _enrolled_token, _open

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthy_answers_200_with_each_component():
    response = Client().get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"]
    for component in ("database", "channel_layer", "task_queue"):
        assert body[component]["status"] == "ok", body
    assert isinstance(body["task_queue"]["queued"], int)
    assert response["Cache-Control"].startswith("max-age=0")


def test_unreachable_channel_layer_answers_503(settings):
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{_closed_port()}/0", "socket_connect_timeout": 1}]},
    }}
    response = Client().get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["channel_layer"]["status"] == "error"
    assert body["database"]["status"] == "ok"
    assert "127.0.0.1" not in response.content.decode()  # no connection details leak out


def test_unreachable_task_broker_is_reported():
    broker = RedisBroker.__new__(RedisBroker)
    broker.list_key = "fleetwatch-health-test"
    broker.connection = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError):
        check_task_queue(broker=broker)


def test_failing_check_turns_the_endpoint_503(monkeypatch):
    # The database cannot be stopped under a running test; a check that raises stands in for it.
    from portal import health

    def broken() -> dict:
        raise OSError("disk gone")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = Client().get("/api/health/")
    assert response.status_code == 503
    assert response.json()["database"] == {"status": "error", "error": "OSError"}


def test_health_needs_no_login_and_only_answers_get():
    assert Client().post("/api/health/").status_code == 405


def _live_health(server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{server.url}/api/health/", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.mark.django_db(transaction=True)
def test_a_server_with_idle_sockets_is_healthy(live_daphne, tenant_a):
    # With Redis, a connected socket keeps its process's receive loop busy on the sockets' channel
    # prefix; a health round trip on another prefix used to wait behind it and report 503.
    _, token = _enrolled_token(tenant_a, "idle-agent")

    async def scenario() -> tuple[int, dict]:
        agent_socket = await _open(live_daphne, token)
        try:
            await asyncio.sleep(0.5)  # the socket is now waiting for messages on the layer
            return await asyncio.to_thread(_live_health, live_daphne)
        finally:
            await agent_socket.close()

    status, body = asyncio.run(scenario())
    assert status == 200, body
    assert body["channel_layer"]["status"] == "ok"
