"""The live dashboard socket: session only, our origin only, and only the actor's companies' pushes."""

import asyncio
import contextlib
import re

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
            "from monitoring.polling import store_poll_result\n"
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
    # The device page's poll state changes too: "Poll now" is queued, and its result arrives this way.
    assert f'id="network-status-{own.pk}" hx-swap-oob="true"' in pushed and "Up" in pushed


def test_new_alerts_arrive_at_the_top_of_the_alert_list(live_daphne, tenant_a, tenant_b, operator_a):
    from tests.live import run_in_other_process

    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}

    def raise_alert_elsewhere(device_pk: int, company_pk: int) -> None:
        run_in_other_process(
            "from monitoring.evaluation import evaluate_check\n"
            "from monitoring.models import Check\n"
            "from portal.inventory.models import Device\n"
            "from portal.policies.services import company_policy\n"
            "from portal.tenancy.models import Company\n"
            f"Device.objects.filter(pk={device_pk}).update(status='online', cpu_percent=99)\n"
            f"evaluate_check(check=Check.objects.create(company_id={company_pk}, "
            f"policy=company_policy(company=Company.objects.get(pk={company_pk})), name='CPU', kind='agent_cpu', "
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


def _heartbeat_elsewhere(device_pk: int, cpu: float) -> None:
    from tests.live import run_in_other_process

    run_in_other_process(
        "from portal.inventory.telemetry import heartbeat_from, record_heartbeats\n"
        f"record_heartbeats([heartbeat_from({device_pk}, {{'cpu_percent': {cpu}, 'memory_percent': 40}})])\n")


def test_an_open_device_page_receives_its_heartbeats_and_nothing_else(live_daphne, tenant_a, operator_a):
    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}
    url = f"{live_daphne.ws_url}/ws/live/?watch=device:{tenant_a.device.pk}"

    async def scenario() -> list[str]:
        async with websockets.connect(url, additional_headers=headers) as socket:
            await asyncio.sleep(0.5)  # the page's watch mark is in the shared cache
            await asyncio.to_thread(_heartbeat_elsewhere, tenant_a.device.pk, 12)
            first = await asyncio.wait_for(socket.recv(), 10)
            await asyncio.to_thread(_heartbeat_elsewhere, tenant_a.device.pk, 87)
            return [first, await asyncio.wait_for(socket.recv(), 10)]

    first, second = asyncio.run(scenario())
    assert f'id="device-metrics-{tenant_a.device.pk}"' in first and 'hx-swap-oob="true"' in first
    assert "12 %" in first and "87 %" in second
    assert [_chart_points(first), _chart_points(second)] == [1, 2]  # the chart extends with each heartbeat


def _chart_points(html: str) -> int:
    return len(re.search(r'<polyline points="([^"]*)"', html).group(1).split())


def test_watching_another_companys_device_is_ignored(live_daphne, tenant_a, tenant_b, operator_a):
    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}
    url = f"{live_daphne.ws_url}/ws/live/?watch=device:{tenant_b.device.pk}"

    async def scenario() -> str:
        async with websockets.connect(url, additional_headers=headers) as socket:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(_heartbeat_elsewhere, tenant_b.device.pk, 55)  # not A's to see
            await asyncio.to_thread(_set_status_elsewhere, tenant_a.device.pk, "offline")
            return await asyncio.wait_for(socket.recv(), 10)

    pushed = asyncio.run(scenario())
    assert f"device-row-{tenant_a.device.pk}" in pushed and "device-metrics" not in pushed


def test_sync_progress_is_pushed_to_all_company_admins_only(live_daphne, tenant_a, admin_user, admin_a):
    from connectors.models import Connector, SyncRun
    from tests.live import run_in_other_process

    connector = Connector.objects.create(name="Pulseway", base_url="https://pulseway.example/v3/", token_id="id",
                                         token_secret="secret")
    run = SyncRun.objects.create(connector=connector, progress="devices", phase_done=250, phase_total=1000)

    def announce() -> None:
        run_in_other_process("from connectors.models import SyncRun\nfrom connectors.engine import announce_run\n"
                             f"announce_run(SyncRun.objects.get(pk={run.pk}))\n")

    async def scenario(headers: dict, wait: float) -> str | None:
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers) as socket:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(announce)
            try:
                return await asyncio.wait_for(socket.recv(), wait)
            except TimeoutError:
                return None

    def headers(user) -> dict:
        return {"Cookie": _session_cookie(user), "Origin": live_daphne.url}

    pushed = asyncio.run(scenario(headers(admin_user), 10))
    assert f'id="connector-progress-{connector.pk}"' in pushed and "250 of 1000" in pushed
    assert 'value="25"' in pushed
    assert asyncio.run(scenario(headers(admin_a), 3)) is None  # an admin of one company is not sent the MSP's syncs


def test_a_burst_of_changes_to_one_device_ends_on_its_latest_state(live_daphne, tenant_a, operator_a):
    from tests.live import run_in_other_process

    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}

    def flap_elsewhere() -> None:  # 30 status changes committed together, ending offline
        run_in_other_process(
            "from django.db import transaction\n"
            "from tests.agent_status import set_status\n"
            "with transaction.atomic():\n"
            "    for n in range(30):\n"
            f"        set_status({tenant_a.device.pk}, 'online' if n % 2 else 'offline')\n"
            f"    set_status({tenant_a.device.pk}, 'offline')\n")

    async def scenario() -> list[str]:
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers) as socket:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(flap_elsewhere)
            received = [await asyncio.wait_for(socket.recv(), 10)]
            with contextlib.suppress(TimeoutError):
                while True:
                    received.append(await asyncio.wait_for(socket.recv(), 2))
            return received

    received = asyncio.run(scenario())
    # Fewer pushes than changes (how many fewer depends on how fast they arrive; see the test below),
    # and the last one shows where the device ended.
    assert len(received) < 31
    assert "Offline" in received[-1] and f'id="device-status-{tenant_a.device.pk}"' in received[-1]


def test_events_for_an_object_arriving_while_it_renders_collapse_into_one_more_render(monkeypatch):
    from dashboard import live as live_consumer

    renders: list[tuple[int, str]] = []

    def slow_renderer(actor, object_id: int, event: str) -> str:
        import time

        time.sleep(0.05)
        renders.append((object_id, event))
        return f"{event}:{object_id}"

    monkeypatch.setitem(live_consumer.RENDERERS, "device.status_changed", slow_renderer)
    monkeypatch.setitem(live_consumer.RENDERERS, "device.updated", slow_renderer)

    async def scenario() -> list[str]:
        consumer = live_consumer.LiveConsumer()
        sent: list[str] = []

        async def send(text_data: str) -> None:
            sent.append(text_data)

        consumer.send = send
        consumer.actor = None
        consumer.pending, consumer.wakeup = {}, asyncio.Event()
        worker = asyncio.create_task(consumer._render_pending())
        for _ in range(30):
            await consumer.dispatch({"type": "fleet.event", "event": "device.status_changed", "id": 7})
            await asyncio.sleep(0)
        await consumer.dispatch({"type": "fleet.event", "event": "device.updated", "id": 8})
        await asyncio.sleep(0.5)
        worker.cancel()
        return sent

    sent = asyncio.run(scenario())
    # the first event renders at once; the 29 that came meanwhile collapse into one more, in its arrival turn
    assert sent == ["device.status_changed:7", "device.status_changed:7", "device.updated:8"]


def test_a_user_who_must_set_up_a_second_factor_gets_no_socket(live_daphne, operator_a, admin_user):
    from portal.accounts.services import set_second_factor_roles

    set_second_factor_roles(actor=actor_for_user(admin_user), roles=["operator"])
    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}

    async def attempt():
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(attempt())
    assert refused.value.response.status_code == 403
