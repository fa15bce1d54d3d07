"""Subscriptions end to end: a real daphne, a websocket client, and a change made in another process."""

import asyncio
import json

import pytest
import websockets

from portal.access import actor_for_user
from portal.accounts.services import create_api_token
from tests.graphql_client import global_id, pk_of
from tests.live import LiveServer, run_in_other_process

pytestmark = pytest.mark.django_db(transaction=True)
PROTOCOL = "graphql-transport-ws"


def _set_status_elsewhere(device_pk: int, status: str) -> None:
    run_in_other_process(f"from tests.agent_status import set_status\nset_status({device_pk}, {status!r})\n")


async def _subscribe(server: LiveServer, token: str, query: str, variables: dict | None = None):
    socket = await websockets.connect(f"{server.ws_url}/graphql/", subprotocols=[PROTOCOL],
                                      additional_headers={"Authorization": f"Bearer {token}"})
    await socket.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "connection_ack"
    await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": query, "variables": variables or {}}}))
    await asyncio.sleep(0.5)  # let the server join the company groups before anything is published
    return socket


async def _next_payload(socket, timeout: float = 10) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
        if message["type"] == "next":
            return message["payload"]
        assert message["type"] not in {"error", "complete"}, message


def test_status_change_in_another_process_reaches_the_subscriber(live_daphne, tenant_a, tenant_b, operator_a):
    token = create_api_token(actor=actor_for_user(operator_a), name="subscriber").plaintext

    async def scenario() -> dict:
        socket = await _subscribe(live_daphne, token, "subscription { deviceStatusChanged { id hostname status } }")
        try:
            await asyncio.to_thread(_set_status_elsewhere, tenant_b.device.pk, "offline")  # not ours to see
            await asyncio.to_thread(_set_status_elsewhere, tenant_a.device.pk, "offline")
            return await _next_payload(socket)
        finally:
            await socket.close()

    payload = asyncio.run(scenario())
    device = payload["data"]["deviceStatusChanged"]
    assert pk_of(device["id"]) == tenant_a.device.pk  # B's change, published first, never arrived
    assert device["status"] == "offline" and device["hostname"] == "alpha-host-1"


def test_device_updated_follows_one_device(live_daphne, tenant_a, operator_a):
    token = create_api_token(actor=actor_for_user(operator_a), name="subscriber").plaintext
    query = "subscription ($id: ID!) { deviceUpdated(id: $id) { id status displayName } }"

    async def scenario() -> dict:
        socket = await _subscribe(live_daphne, token, query, {"id": global_id("Device", tenant_a.device.pk)})
        try:
            await asyncio.to_thread(run_in_other_process, (
                "from portal.access import system_actor\n"
                "from portal.inventory.models import Device\n"
                "from portal.inventory.services import update_device\n"
                f"update_device(actor=system_actor(), device=Device.objects.get(pk={tenant_a.device.pk}),"
                " display_name='Reception PC')\n"))
            return await _next_payload(socket)
        finally:
            await socket.close()

    assert asyncio.run(scenario())["data"]["deviceUpdated"]["displayName"] == "Reception PC"


def test_subscribing_to_a_b_device_yields_nothing(live_daphne, tenant_a, tenant_b, operator_a):
    token = create_api_token(actor=actor_for_user(operator_a), name="subscriber").plaintext
    query = "subscription ($id: ID!) { deviceUpdated(id: $id) { id status } }"

    async def scenario() -> dict:
        socket = await _subscribe(live_daphne, token, query, {"id": global_id("Device", tenant_b.device.pk)})
        try:
            await asyncio.to_thread(_set_status_elsewhere, tenant_b.device.pk, "offline")
            return json.loads(await asyncio.wait_for(socket.recv(), 5))
        finally:
            await socket.close()

    message = asyncio.run(scenario())
    assert message["type"] == "complete"  # the subscription ends at once: nothing it may see exists


def test_sockets_without_credentials_are_refused(live_daphne):
    async def scenario():
        async with websockets.connect(f"{live_daphne.ws_url}/graphql/", subprotocols=[PROTOCOL]) as socket:
            await socket.recv()

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(scenario())
    assert refused.value.response.status_code == 403  # refused during the handshake, before any frame


def test_bad_token_and_foreign_origin_cookies_are_refused(live_daphne, operator_a):
    async def scenario(headers):
        async with websockets.connect(f"{live_daphne.ws_url}/graphql/", subprotocols=[PROTOCOL],
                                      additional_headers=headers) as socket:
            await socket.recv()

    for headers in ({"Authorization": "Bearer fwt_nothing"}, {"Origin": "https://evil.example"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(scenario(headers))
        assert refused.value.response.status_code == 403


def test_session_cookie_counts_only_from_our_own_origin(live_daphne, tenant_a, operator_a):
    from django.test import Client

    browser = Client()
    browser.force_login(operator_a)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    async def handshake(origin: str) -> str:
        async with websockets.connect(f"{live_daphne.ws_url}/graphql/", subprotocols=[PROTOCOL],
                                      additional_headers={"Cookie": cookie, "Origin": origin}) as socket:
            await socket.send(json.dumps({"type": "connection_init"}))
            return json.loads(await asyncio.wait_for(socket.recv(), 5))["type"]

    assert asyncio.run(handshake(f"http://127.0.0.1:{live_daphne.port}")) == "connection_ack"
    with pytest.raises(websockets.InvalidStatus):
        asyncio.run(handshake("https://evil.example"))


def test_alert_raised_reaches_only_the_alerts_company(live_daphne, tenant_a, tenant_b, operator_a):
    token = create_api_token(actor=actor_for_user(operator_a), name="alerts").plaintext
    query = "subscription { alertRaised { id severity message company { name } } }"

    def raise_alert_elsewhere(device_pk: int, company_pk: int) -> None:
        run_in_other_process(
            "from monitoring.evaluation import evaluate_check\n"
            "from monitoring.models import Check\n"
            "from portal.inventory.models import Device\n"
            "from portal.policies.services import company_policy\n"
            "from portal.tenancy.models import Company\n"
            f"Device.objects.filter(pk={device_pk}).update(status='online', cpu_percent=99)\n"
            f"check = Check.objects.create(company_id={company_pk}, "
            f"policy=company_policy(company=Company.objects.get(pk={company_pk})), name='CPU', kind='agent_cpu', "
            "critical_threshold=95, failures_before_alert=1)\n"
            "evaluate_check(check=check)\n")

    async def scenario() -> dict:
        socket = await _subscribe(live_daphne, token, query)
        try:
            await asyncio.to_thread(raise_alert_elsewhere, tenant_b.device.pk, tenant_b.company.pk)
            await asyncio.to_thread(raise_alert_elsewhere, tenant_a.device.pk, tenant_a.company.pk)
            return await _next_payload(socket)
        finally:
            await socket.close()

    alert = asyncio.run(scenario())["data"]["alertRaised"]
    assert alert["company"]["name"] == "Alpha Corp" and alert["severity"] == "critical"
    assert "99 %" in alert["message"]
