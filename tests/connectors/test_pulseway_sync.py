"""Pulseway sync against a stand-in server that follows the v3 contract: a first sync imports
everything, a second updates only what changed and marks vanished items stale, a third writes nothing;
429 storms and a 500 slow the sync without losing items; bad credentials are a clear error."""

from __future__ import annotations

import pytest

from connectors.models import Connector, ExternalRecord, SyncRun
from connectors.sync import run_sync
from portal.inventory.models import Device
from portal.tenancy.models import Company, Site
from tests.connectors.pulseway_standin import sample_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(pulseway_connector):
    return pulseway_connector


def test_first_second_and_third_sync(pulseway, connector):
    first = run_sync(connector=connector)
    assert first.status == "succeeded", (first.error, first.item_errors)
    assert (first.created, first.updated, first.unchanged, first.stale) == (2 + 4 + 4 + 12, 0, 0, 0)
    device = Device.objects.get(hostname="pw-101-1")
    assert device.company.name == "Org 1" and device.site.name == "Org 1 Site 1" and device.group.name == "Servers"
    assert device.status == "online" and device.external_ids["pulseway_facts"]["ips"] == ["10.1.1.1"]
    assert Device.objects.get(hostname="pw-101-2").status == "offline"

    pulseway.data.devices[0]["IsOnline"] = False  # changed
    pulseway.data.organizations[1]["Name"] = "Org Two Ltd"  # renamed
    vanished = pulseway.data.devices.pop()  # gone upstream
    second = run_sync(connector=connector)
    assert (second.created, second.updated, second.stale, second.failed) == (0, 2, 1, 0)
    assert Device.objects.get(hostname="pw-101-1").status == "offline"
    assert Company.objects.filter(name="Org Two Ltd").exists()
    assert Device.objects.filter(hostname=vanished["Name"]).exists()  # stale, never deleted
    assert ExternalRecord.objects.get(external_id=vanished["Identifier"]).stale

    third = run_sync(connector=connector)
    assert (third.created, third.updated, third.unchanged, third.failed) == (0, 0, 21, 0)
    assert third.requests == second.requests


def test_paging_beyond_one_page(pulseway, connector):
    pulseway.data = sample_data(organizations=1, sites_each=1, devices_each=130)
    run = run_sync(connector=connector)
    assert run.status == "succeeded" and Device.objects.count() == 130
    # organizations, sites, groups: 1 page each; devices: 2 pages + 130 details
    assert run.requests == 3 + 2 + 130


def test_429_storm_and_a_500_slow_the_sync_but_lose_nothing(pulseway, connector):
    pulseway.throttle_every = 3
    pulseway.fail_once = {"sites"}
    run = run_sync(connector=connector)
    assert run.status == "succeeded", run.error
    assert Device.objects.count() == 12 and Site.objects.count() == 4
    assert run.retries >= 6 and run.requests > 3 + 12 + 3


def test_bad_credentials_are_a_clear_error(pulseway, admin_user):
    connector = Connector.objects.create(name="Wrong", base_url=pulseway.url, token_id="tok-id",
                                         token_secret="not-it")
    run = run_sync(connector=connector)
    assert run.status == "failed" and "refused the credentials" in run.error
    connector.refresh_from_db()
    assert connector.last_status == "failed" and "token id and secret" in connector.last_error
    from django.urls import reverse

    from tests.conftest import logged_in

    page = logged_in(admin_user).get(reverse("resource-detail", args=["connectors", connector.pk])).content.decode()
    assert "The vendor refused the credentials (HTTP 401)" in page and 'role="alert"' in page
    assert not Company.objects.filter(name="Org 1").exists()


def test_one_bad_item_does_not_abort_the_run(pulseway, connector):
    pulseway.data.devices[0]["SiteId"] = 999  # a site nobody knows
    run = run_sync(connector=connector)
    assert run.status == "partial" and run.failed == 1 and run.created == 2 + 4 + 4 + 11
    assert "site" in run.item_errors[0]["error"] and run.item_errors[0]["label"] == "pw-101-1"
    assert SyncRun.objects.count() == 1


def test_connector_pages_are_for_all_company_admins(pulseway, connector, admin_user, admin_a, settings):
    from django.db import connection as db
    from django.urls import reverse

    from tests.conftest import logged_in

    run_sync(connector=connector)
    scoped = logged_in(admin_a)
    assert reverse("resource-detail", args=["connectors", connector.pk]) not in scoped.get(
        reverse("resource-list", args=["connectors"])).content.decode()
    assert scoped.get(reverse("resource-detail", args=["connectors", connector.pk])).status_code == 404
    assert scoped.post(reverse("connector-sync", args=[connector.pk])).status_code == 404
    page = logged_in(admin_user).get(reverse("resource-detail", args=["connectors", connector.pk])).content.decode()
    assert "Sync now" in page and "pw-101-1" in page and "tok-secret" not in page
    with db.cursor() as cursor:
        cursor.execute("SELECT token_secret FROM connectors_connector WHERE id = %s", [connector.pk])
        assert "tok-secret" not in cursor.fetchone()[0]


def test_the_silence_sweep_leaves_imported_devices_to_their_vendor(pulseway, connector):
    from portal.inventory.telemetry import sweep_silent_agents

    run_sync(connector=connector)
    online = set(Device.objects.filter(status="online").values_list("pk", flat=True))
    assert len(online) == 8  # devices 1 and 3 of each site are online upstream
    sweep_silent_agents()  # they send no heartbeats: their state is Pulseway's, not a missed heartbeat
    assert set(Device.objects.filter(status="online").values_list("pk", flat=True)) == online
