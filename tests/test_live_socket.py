"""The live dashboard socket: session only, our origin only, and only the actor's companies' pushes."""

import asyncio

import pytest
import websockets
from django.test import Client

from portal.access import actor_for_user
from portal.accounts.services import create_api_token
from tests.graph.test_subscriptions import _set_status_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(user) -> str:
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}"


def test_pushes_reach_only_the_companies_the_technician_may_see(live_daphne, tenant_a, tenant_b, operator_a):
    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}

    async def scenario() -> str:
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers) as socket:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(_set_status_elsewhere, tenant_b.device.pk, "offline")  # not A's to see
            await asyncio.to_thread(_set_status_elsewhere, tenant_a.device.pk, "offline")
            return await asyncio.wait_for(socket.recv(), 10)

    pushed = asyncio.run(scenario())
    assert f'id="device-row-{tenant_a.device.pk}"' in pushed and 'hx-swap-oob="true"' in pushed
    assert f'id="device-status-{tenant_a.device.pk}"' in pushed and "Offline" in pushed
    assert f"device-row-{tenant_b.device.pk}" not in pushed and "bravo" not in pushed.lower()


def test_tokens_and_foreign_origins_are_refused(live_daphne, operator_a):
    token = create_api_token(actor=actor_for_user(operator_a), name="not a browser").plaintext
    cookie = _session_cookie(operator_a)

    async def attempt(headers):
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers):
            pass

    for headers in ({"Authorization": f"Bearer {token}"}, {"Cookie": cookie, "Origin": "https://evil.example"},
                    {"Cookie": cookie}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(attempt(headers))
        assert refused.value.response.status_code == 403


def test_pages_connect_the_live_socket(operator_a):
    from tests.conftest import logged_in

    body = logged_in(operator_a).get("/devices/").content.decode()
    assert 'ws-connect="/ws/live/"' in body and "htmx-ext-ws.min.js" in body


def test_network_polls_are_pushed_only_to_their_company(live_daphne, tenant_a, tenant_b, operator_a):
    from tests.isolation_registry import _network_device_in
    from tests.live import run_in_other_process

    own, other = _network_device_in(tenant_a.company), _network_device_in(tenant_b.company)
    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}

    def poll_elsewhere(device_id: int) -> None:
        run_in_other_process(
            "from monitoring.services import store_poll_result\n"
            "from monitoring.snmp import InterfaceReading, PollResult\n"
            f"store_poll_result(device_id={device_id}, result=PollResult(status='up', response_ms=2.0, "
            "system={'name': 'core'}, interfaces=[InterfaceReading(if_index=1, name='uplink-port', "
            "oper_status='up', admin_status='up')]))\n")

    async def scenario() -> str:
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers) as socket:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(poll_elsewhere, other.pk)
            await asyncio.to_thread(poll_elsewhere, own.pk)
            return await asyncio.wait_for(socket.recv(), 10)

    pushed = asyncio.run(scenario())
    assert f'id="networkdevice-row-{own.pk}"' in pushed and f'id="network-interfaces-{own.pk}"' in pushed
    assert "uplink-port" in pushed and f"networkdevice-row-{other.pk}" not in pushed


def test_new_alerts_arrive_at_the_top_of_the_alert_list(live_daphne, tenant_a, tenant_b, operator_a):
    from tests.live import run_in_other_process

    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}

    def raise_alert_elsewhere(device_pk: int, company_pk: int) -> None:
        run_in_other_process(
            "from monitoring.alerting import evaluate_check\n"
            "from monitoring.models import Check\n"
            "from portal.inventory.models import Device\n"
            f"Device.objects.filter(pk={device_pk}).update(status='online', cpu_percent=99)\n"
            f"evaluate_check(check=Check.objects.create(company_id={company_pk}, name='CPU', kind='agent_cpu', "
            "critical_threshold=95, failures_before_alert=1))\n")

    async def scenario() -> str:
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers) as socket:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(raise_alert_elsewhere, tenant_b.device.pk, tenant_b.company.pk)
            await asyncio.to_thread(raise_alert_elsewhere, tenant_a.device.pk, tenant_a.company.pk)
            return await asyncio.wait_for(socket.recv(), 10)

    pushed = asyncio.run(scenario())
    assert pushed.startswith('<tbody hx-swap-oob="afterbegin:#alerts-rows">') and "alert-row-" in pushed
    assert "alpha-host-1" in pushed and "bravo" not in pushed.lower()
    assert 'id="alerts-rows"' in logged_in_page(operator_a, "/alerts/")


def logged_in_page(user, url: str) -> str:
    from tests.conftest import logged_in

    return logged_in(user).get(url).content.decode()
