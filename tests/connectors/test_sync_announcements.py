"""What a finished sync tells open pages: its devices' rows when few changed, and a refresh notice for
each company whose records changed — only to those who may see that company."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from connectors import changes
from connectors.sync import run_sync
from portal.access import Role
from portal.inventory.models import Device
from portal.tenancy.models import Company
from tests import factories
from tests.live import run_in_other_process
from tests.test_live_socket import _session_cookie


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, int, int]]:
    events: list[tuple[str, int, int]] = []

    def record(event: str, *, company_id: int | None, **ids) -> None:
        events.append((event, company_id, ids["id"]))

    monkeypatch.setattr(changes, "publish", record)
    return events


@pytest.mark.django_db
def test_each_sync_announces_what_it_wrote_and_nothing_else(pulseway, pulseway_connector, published):
    run_sync(connector=pulseway_connector)
    org1, org2 = Company.objects.get(name="Org 1"), Company.objects.get(name="Org 2")
    created = sorted(pk for event, _, pk in published if event == "device.created")
    assert created == sorted(Device.objects.values_list("pk", flat=True)) and len(created) == 12
    assert [(c, pk) for e, c, pk in published if e == "company.imported"] == [(org1.pk, org1.pk), (org2.pk, org2.pk)]

    published.clear()
    pulseway.data.devices[0]["IsOnline"] = False  # pw-101-1 goes offline upstream
    pulseway.data.devices[1]["Description"] = "front desk"  # pw-101-2 changes, its status does not
    run_sync(connector=pulseway_connector)
    first, second = Device.objects.get(hostname="pw-101-1"), Device.objects.get(hostname="pw-101-2")
    assert sorted(published) == sorted([("device.status_changed", org1.pk, first.pk),
                                        ("device.updated", org1.pk, second.pk),
                                        ("company.imported", org1.pk, org1.pk)])

    published.clear()
    run_sync(connector=pulseway_connector)
    assert published == []  # nothing changed upstream: nothing to tell


@pytest.mark.django_db
def test_a_large_import_sends_the_notices_alone(pulseway, pulseway_connector, published, monkeypatch):
    monkeypatch.setattr(changes, "LIVE_ROWS_LIMIT", 5)
    run_sync(connector=pulseway_connector)
    assert {event for event, _, _ in published} == {"company.imported"}
    assert len(published) == 2


@pytest.mark.django_db(transaction=True)
def test_open_pages_get_the_row_and_the_notice_of_their_companies_only(live_daphne, pulseway,
                                                                         pulseway_connector):
    run_sync(connector=pulseway_connector)
    org1, org2 = Company.objects.get(name="Org 1"), Company.objects.get(name="Org 2")
    device = Device.objects.get(hostname="pw-101-1")
    own = factories.UserFactory(username="tech-org1", role=Role.OPERATOR, companies=[org1])
    other = factories.UserFactory(username="tech-org2", role=Role.OPERATOR, companies=[org2])
    pulseway.data.devices[0]["IsOnline"] = False

    def sync_elsewhere() -> None:
        run_in_other_process("from connectors.models import Connector\nfrom connectors.sync import run_sync\n"
                             f"run_sync(connector=Connector.objects.get(pk={pulseway_connector.pk}))\n")

    async def collect(socket, seconds: float) -> str:
        received = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                received.append(await asyncio.wait_for(socket.recv(), left))
            except TimeoutError:
                break
            if 'id="live-notice"' in received[-1] and any("device-row-" in m for m in received):
                break
        return "".join(received)

    own_headers, other_headers = ({"Cookie": _session_cookie(user), "Origin": live_daphne.url}
                                  for user in (own, other))

    async def scenario() -> tuple[str, str]:
        url = f"{live_daphne.ws_url}/ws/live/"
        async with (websockets.connect(url, additional_headers=own_headers) as own_socket,
                    websockets.connect(url, additional_headers=other_headers) as other_socket):
            await asyncio.sleep(0.3)
            await asyncio.to_thread(sync_elsewhere)
            return await collect(own_socket, 15), await collect(other_socket, 2)

    own_pushes, other_pushes = asyncio.run(scenario())
    assert f'id="device-row-{device.pk}"' in own_pushes and "Offline" in own_pushes
    assert 'id="live-notice"' in own_pushes and "Org 1" in own_pushes and 'data-live-refresh' in own_pushes
    assert other_pushes == ""  # Org 2 changed nothing, and Org 1's pushes are not Org 2's to see

