"""Freshservice sync against a stand-in that follows the v2 contract: departments → companies, requesters →
contacts, Link-header paging, the per-minute budget from the rate-limit headers, 429/500, bad keys, and the
optional account-number assignment."""

from __future__ import annotations

import pytest

from connectors import freshservice
from connectors.models import Connector, ExternalRecord
from connectors.sync import run_sync
from portal.tenancy.models import Company, Contact
from tests.connectors.freshservice_standin import API_KEY, FreshserviceStandIn, sample_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def freshservice_api():
    stand_in = FreshserviceStandIn(sample_data())
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def connector(freshservice_api):
    return Connector.objects.create(name="Freshservice", kind="freshservice",
                                    base_url=f"{freshservice_api.origin}/api/v2/", token_secret=API_KEY)


def test_first_second_and_third_sync(freshservice_api, connector):
    first = run_sync(connector=connector)
    assert first.status == "succeeded", (first.error, first.item_errors)
    assert (first.created, first.updated, first.stale) == (2 + 6, 0, 0)
    contact = Contact.objects.get(email="p1@d1.example.com")
    assert contact.company.name == "Department 1" and contact.name == "Person1 D1"
    assert contact.job_title == "Office manager" and contact.phone == "555-0101"

    freshservice_api.data.requesters[0]["job_title"] = "Director"
    freshservice_api.data.departments[1]["name"] = "Department Two"
    gone = freshservice_api.data.requesters.pop()
    freshservice_api.data.requesters.append({**gone, "id": 1, "department_ids": []})  # in no department
    second = run_sync(connector=connector)
    assert (second.created, second.updated, second.stale, second.skipped) == (0, 2, 1, 1)
    assert Contact.objects.get(email="p1@d1.example.com").job_title == "Director"
    assert Company.objects.filter(name="Department Two").exists()
    assert Contact.objects.filter(email=gone["primary_email"]).exists()  # stale, never deleted
    assert ExternalRecord.objects.get(kind="contact", external_id=str(gone["id"])).stale

    third = run_sync(connector=connector)
    assert (third.created, third.updated, third.unchanged, third.failed) == (0, 0, 2 + 5, 0)


def test_link_header_paging(freshservice_api, connector):
    freshservice_api.data = sample_data(departments=1, requesters_each=250)
    run = run_sync(connector=connector)
    assert run.status == "succeeded" and Contact.objects.count() == 250
    assert [path for _, path in freshservice_api.log].count("requesters") == 3  # 100 + 100 + 50
    assert run.requests == 1 + 3


def test_a_spent_budget_waits_for_the_next_minute():
    import httpx

    spent = httpx.Response(200, headers={"X-RateLimit-Total": "100", "X-RateLimit-Remaining": "0"})
    left = httpx.Response(200, headers={"X-RateLimit-Total": "100", "X-RateLimit-Remaining": "37"})
    assert freshservice.pause_for_budget(spent) == 60 and freshservice.pause_for_budget(left) == 0
    assert freshservice.pause_for_budget(httpx.Response(200)) == 0


def test_the_budget_is_read_from_the_headers(freshservice_api, connector):
    freshservice_api.budget = 2  # the third request of the minute would be refused
    client = freshservice.client_for(connector)
    waits = []
    client.sleep = lambda seconds: (waits.append(seconds), freshservice_api.used.clear())  # the minute passes
    run = run_sync(connector=connector, client=client)
    assert run.status == "succeeded" and Contact.objects.count() == 6
    assert waits and all(wait == 60 for wait in waits) and run.retries == 0  # paused, never refused


def test_429_storm_and_a_500_lose_nothing(freshservice_api, connector):
    freshservice_api.data = sample_data(departments=2, requesters_each=120)
    freshservice_api.throttle_every = 2
    freshservice_api.fail_once = {"departments"}
    client = freshservice.client_for(connector)
    client.sleep = lambda seconds: None
    run = run_sync(connector=connector, client=client)
    assert run.status == "succeeded", (run.error, run.item_errors[:3])
    assert Contact.objects.count() == 240 and run.retries >= 3


def test_bad_api_key_is_a_clear_error(freshservice_api):
    connector = Connector.objects.create(name="Wrong", kind="freshservice",
                                         base_url=f"{freshservice_api.origin}/api/v2/", token_secret="nope")
    run = run_sync(connector=connector)
    assert run.status == "failed" and "refused the credentials (HTTP 401)" in run.error
    assert not Company.objects.exists()


def test_missing_account_numbers_are_assigned_when_asked(freshservice_api, connector):
    run_sync(connector=connector)
    assert freshservice_api.department_updates == []  # off by default
    Company.objects.filter(name="Department 1").update(account_number="ACC-7001")
    freshservice_api.data.departments[1]["custom_fields"]["account_number"] = "THEIRS"  # never overwritten
    Company.objects.filter(name="Department 2").update(account_number="ACC-7002")
    Connector.objects.filter(pk=connector.pk).update(write_account_numbers=True,
                                                     account_number_field="account_number")
    connector.refresh_from_db()
    run = run_sync(connector=connector)
    assert run.written_upstream == 1 and freshservice_api.department_updates == [
        (7001, {"custom_fields": {"account_number": "ACC-7001"}})]

    Connector.objects.filter(pk=connector.pk).update(account_number_field="acct_no")  # not a field there
    freshservice_api.data.departments[0]["custom_fields"]["account_number"] = None
    connector.refresh_from_db()
    run = run_sync(connector=connector)
    assert run.status == "partial" and "acct_no: Unexpected/invalid field" in run.item_errors[0]["error"]
