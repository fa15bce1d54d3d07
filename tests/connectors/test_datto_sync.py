"""Datto RMM sync against a stand-in that follows the v2 contract: the password grant and token refresh,
nextPageUrl paging, epoch-millisecond times, the request budget, 429/500 and the optional UDF push."""

from __future__ import annotations

import pytest

from connectors import datto
from connectors.http import RateLimit
from connectors.models import Connector, ExternalRecord
from connectors.sync import run_sync
from portal.inventory.models import Device
from portal.tenancy.models import Company, Site
from tests.connectors.datto_standin import API_KEY, API_SECRET, DattoStandIn, sample_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def datto_api():
    stand_in = DattoStandIn(sample_data())
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def connector(datto_api):
    return Connector.objects.create(name="Datto", kind="datto", base_url=datto_api.origin, token_id=API_KEY,
                                    token_secret=API_SECRET)


def test_first_second_and_third_sync(datto_api, connector):
    first = run_sync(connector=connector)
    assert first.status == "succeeded", (first.error, first.item_errors)
    assert (first.created, first.updated, first.stale) == (2 + 2 + 6, 0, 0)  # companies, sites, devices
    device = Device.objects.get(hostname="dt-1-1")
    assert device.company.name == "Client 1" and device.site.name == "Client 1"
    assert device.status == "online" and device.os_type == "windows"
    assert device.ip_addresses == "192.168.1.2 198.51.100.4"
    facts = device.external_ids["datto_facts"]
    assert facts["last_seen"] == "2024-07-16T12:00:00+00:00" and facts["reboot_required"] is True
    assert device.last_seen.isoformat() == "2024-07-16T12:00:00+00:00"  # shown as "last seen" like an agent's
    assert facts["patch_status"] == "ApprovedPending" and facts["patches_pending"] == 2
    assert datto_api.token_requests == 1  # one token for the whole run

    datto_api.data.devices[1]["online"] = True
    datto_api.data.devices[-1]["deleted"] = True  # deleted in Datto: stale here, never deleted
    second = run_sync(connector=connector)
    assert (second.created, second.updated, second.stale, second.failed) == (0, 1, 1, 0)
    assert Device.objects.get(hostname="dt-1-2").status == "online"
    assert Device.objects.filter(hostname="dt-2-3").exists()
    assert ExternalRecord.objects.get(external_id="dev-0002-00003").stale

    third = run_sync(connector=connector)
    assert (third.created, third.updated, third.unchanged) == (0, 0, 2 + 2 + 5)


def test_paging_follows_next_page_url(datto_api, connector):
    datto_api.data = sample_data(sites=1, devices_each=600)
    run = run_sync(connector=connector)
    assert run.status == "succeeded" and Device.objects.count() == 600
    assert [path for method, path in datto_api.log].count("v2/site/site-0001/devices") == 3  # 250 + 250 + 100
    assert run.requests == 1 + 1 + 3  # token, sites, three device pages


def test_an_expired_token_is_fetched_again(datto_api, connector):
    run_sync(connector=connector)
    datto_api.tokens.clear()  # the server forgot every token (expired or revoked early)
    datto_api.data.devices[0]["online"] = False
    run = run_sync(connector=connector)
    assert run.status == "succeeded" and Device.objects.get(hostname="dt-1-1").status == "offline"
    assert datto_api.token_requests == 2


def test_a_busy_token_endpoint_is_tried_again(datto_api, connector):
    datto_api.token_failures = 2
    client = datto.client_for(connector)
    pauses = []
    client.http.auth.sleep = pauses.append
    run = run_sync(connector=connector, client=client)
    assert run.status == "succeeded" and Device.objects.count() == 6
    assert datto_api.token_requests == 3 and pauses == [2.0, 4.0]


def test_token_is_refreshed_before_it_expires():
    now = [0.0]
    auth = datto.DattoAuth(platform="http://unused", api_key="k", api_secret="s", clock=lambda: now[0])
    fetched = []
    auth.refresh = lambda: (fetched.append(now[0]), setattr(auth, "token", "t"),
                            setattr(auth, "expires_at", now[0] + 3600))
    import httpx

    for at in (0.0, 3000.0, 3301.0):  # refreshed 300 s before the hour is up, not after
        now[0] = at
        next(auth.auth_flow(httpx.Request("GET", "http://unused/api/v2/account/sites")))
    assert fetched == [0.0, 3301.0]


def test_the_request_budget_is_kept_without_429s(datto_api, connector):
    datto_api.data = sample_data(sites=6, devices_each=1)
    datto_api.budget, datto_api.window_seconds = 4, 1.0  # the stand-in's window, scaled down from 600/60 s
    client = datto.client_for(connector)
    client.rate_limit = RateLimit(requests=4, per_seconds=1.1)  # with the same safety margin as 600 per 61 s
    run = run_sync(connector=connector, client=client)
    assert run.status == "succeeded" and Device.objects.count() == 6
    assert datto_api.throttled == 0 and run.retries == 0 and client.paused_seconds > 0


def test_429_storm_and_a_500_lose_nothing(datto_api, connector):
    datto_api.throttle_every = 3
    datto_api.fail_once = {"v2/site/site-0002/devices"}
    client = datto.client_for(connector)
    client.sleep = lambda seconds: None
    run = run_sync(connector=connector, client=client)
    assert run.status == "succeeded", run.error
    assert Device.objects.count() == 6 and run.retries >= 2


def test_bad_credentials_are_a_clear_error(datto_api):
    connector = Connector.objects.create(name="Wrong", kind="datto", base_url=datto_api.origin, token_id=API_KEY,
                                         token_secret="nope")
    run = run_sync(connector=connector)
    assert run.status == "failed" and "refused the API key and secret" in run.error
    assert not Company.objects.exists()


def test_account_numbers_are_pushed_into_a_udf_when_asked(datto_api, connector):
    run_sync(connector=connector)
    assert datto_api.udf_writes == []  # off by default
    Company.objects.filter(name="Client 1").update(account_number="ACC-0001")
    Connector.objects.filter(pk=connector.pk).update(write_account_numbers=True, account_number_field="udf5")
    connector.refresh_from_db()
    datto_api.conflict_once = {"dev-0001-00001"}  # someone else writes at the same moment: retried once
    run = run_sync(connector=connector)
    assert run.written_upstream == 3 and run.failed == 0
    assert {uid for uid, values in datto_api.udf_writes} == {"dev-0001-00001", "dev-0001-00002", "dev-0001-00003"}
    assert all(values == {"udf5": "ACC-0001"} for _, values in datto_api.udf_writes)
    assert run_sync(connector=connector).written_upstream == 0  # already there: nothing written again


def test_a_company_of_the_same_name_is_linked_not_duplicated(datto_api, connector, tenant_a):
    datto_api.data.sites[0]["name"] = "alpha corp"  # tenant_a's company is "Alpha Corp"
    run = run_sync(connector=connector)
    assert Company.objects.filter(name__iexact="alpha corp").count() == 1
    assert Site.objects.filter(company=tenant_a.company, name="alpha corp").exists()
    assert run.status == "succeeded"


@pytest.mark.parametrize("value", [None, "1721131200000", True, 0, -5, 10**20, float("nan")])
def test_epoch_milliseconds_that_are_no_time_are_left_out(value):
    from connectors.datto import _epoch_ms, _epoch_ms_time

    assert _epoch_ms_time(value) is None and _epoch_ms(value) == ""
